/* avx2only.so: run a process as if its x86-64 CPU had AVX2 and nothing newer.
 *
 * The speed goals of affectlens are set for AVX2-only CPUs, but the machines at hand may have AVX-512
 * and AMX, and ONNX Runtime, NumPy and OpenCV pick their kernels from what the CPUID instruction
 * reports. Loaded with LD_PRELOAD, this library turns on CPUID faulting for the process
 * (arch_prctl(ARCH_SET_CPUID, 0), Linux >= 4.12 on CPUs with the `cpuid_fault` flag; inherited by
 * every thread created later) and answers each faulting CPUID from a SIGSEGV handler: the real
 * answer with the AVX-512, AMX, AVX-VNNI and AVX512-BF16/FP16 bits cleared. Libraries then dispatch to
 * their AVX2 kernels and run them natively, at full speed (this is not an emulator).
 *
 * A program that installs its own SIGSEGV handler later (Python's faulthandler, which pytest turns
 * on) would take the trap away: sigaction() and signal() are interposed for SIGSEGV, so the
 * program's handler is kept as the one real faults are handed to (with its mask, alternate stack
 * and reset-on-use), and this one stays in place. Limits: a thread that blocks SIGSEGV and then
 * executes CPUID is killed by the kernel; sigset(), bsd_signal() and raw rt_sigaction system calls
 * are not interposed. Good enough for benchmarks and tests of ONNX Runtime, NumPy, OpenCV and
 * PyTorch under CPython; not a sandbox.
 *
 * It sets AFFECTLENS_CPUID_MASK=avx2 in the environment once the trap is on. glibc picks its string
 * functions before this library loads: run it through benchmarks/avx2only/run.sh, which also masks
 * those with GLIBC_TUNABLES.
 *
 *   gcc -O2 -shared -fPIC -o avx2only.so avx2only.c -ldl
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static struct sigaction previous; /* the program's own SIGSEGV handler: real faults go there */
static int trapping;

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static int real_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    static sigaction_fn next;
    if (!next) next = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
    return next(sig, act, old);
}

/* While the trap is on, SIGSEGV handlers the program installs are recorded, not installed. */
int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    if (sig != SIGSEGV || !trapping) return real_sigaction(sig, act, old);
    if (old) *old = previous;
    if (act) previous = *act;
    return 0;
}

typedef sighandler_t (*signal_fn)(int, sighandler_t);

sighandler_t signal(int sig, sighandler_t handler) {
    static signal_fn next;
    if (!next) next = (signal_fn)dlsym(RTLD_NEXT, "signal");
    if (sig != SIGSEGV || !trapping || handler == SIG_ERR) return next(sig, handler);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) != 0) return SIG_ERR;
    return old.sa_handler;
}

static long set_cpuid(int enabled) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, enabled); }

static void mask(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    if (leaf == 7 && sub == 0) {
        /* EBX: AVX512F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28, BW 30, VL 31 */
        r[1] &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
        /* ECX: VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14 (GFNI and VAES stay: AVX2-only CPUs have
           their VEX forms, and their EVEX forms need AVX512F, which is gone) */
        r[2] &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
        /* EDX: 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, AMX-BF16 22, AVX512-FP16 23, AMX-TILE 24, AMX-INT8 25 */
        r[3] &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
    } else if (leaf == 7 && sub == 1) {
        /* EAX: AVX-VNNI 4, AVX512-BF16 5, AMX-FP16 21, AVX-IFMA 23;
           EDX: AVX-VNNI-INT8 4, AVX-NE-CONVERT 5, AMX-COMPLEX 8, AVX-VNNI-INT16 10, AVX10 19 */
        r[0] &= ~((1u << 4) | (1u << 5) | (1u << 21) | (1u << 23));
        r[3] &= ~((1u << 4) | (1u << 5) | (1u << 8) | (1u << 10) | (1u << 19));
    } else if (leaf == 0xD && sub == 0) {
        /* XSAVE components offered: no opmask/ZMM (5-7) or AMX tile state (17, 18) */
        r[0] &= ~((1u << 5) | (1u << 6) | (1u << 7) | (1u << 17) | (1u << 18));
    } else if (leaf == 0x1D || leaf == 0x1E || leaf == 0x24) {
        r[0] = r[1] = r[2] = r[3] = 0; /* AMX palette / TMUL and AVX10 leaves */
    }
}

static void on_segv(int sig, siginfo_t *info, void *ctx) {
    ucontext_t *uc = (ucontext_t *)ctx;
    greg_t *g = uc->uc_mcontext.gregs;
    const uint8_t *ip = (const uint8_t *)g[REG_RIP];
    /* a faulting CPUID is a general-protection fault (SI_KERNEL); a bad address is not, and its
       instruction may not even be readable */
    if (info->si_code == SI_KERNEL && ip[0] == 0x0F && ip[1] == 0xA2) { /* cpuid */
        uint32_t leaf = (uint32_t)g[REG_RAX], sub = (uint32_t)g[REG_RCX], r[4];
        set_cpuid(1);
        __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
        set_cpuid(0);
        mask(leaf, sub, r);
        g[REG_RAX] = r[0];
        g[REG_RBX] = r[1];
        g[REG_RCX] = r[2];
        g[REG_RDX] = r[3];
        g[REG_RIP] += 2;
        return;
    }
    /* a real fault: hand it on as if this handler were not there */
    struct sigaction program = previous;
    if (program.sa_flags & SA_RESETHAND) { /* a one-shot handler: the next fault is the default's */
        memset(&previous, 0, sizeof previous);
        previous.sa_handler = SIG_DFL;
    }
    sigset_t saved;
    pthread_sigmask(SIG_BLOCK, &program.sa_mask, &saved); /* what the program's handler asked to block */
    if (program.sa_flags & SA_SIGINFO && program.sa_sigaction) {
        program.sa_sigaction(sig, info, ctx);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
    } else if (program.sa_handler != SIG_DFL && program.sa_handler != SIG_IGN) {
        program.sa_handler(sig);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
    } else {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        trapping = 0;
        real_sigaction(SIGSEGV, &dfl, NULL);
        raise(SIGSEGV);
    }
}

__attribute__((constructor)) static void avx2only_init(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK; /* on a thread's alternate stack where it has one */
    sigemptyset(&sa.sa_mask);
    if (real_sigaction(SIGSEGV, &sa, &previous) != 0) return;
    if (set_cpuid(0) != 0) {
        real_sigaction(SIGSEGV, &previous, NULL);
        fprintf(stderr, "avx2only: this CPU or kernel has no CPUID faulting; nothing is masked\n");
        return;
    }
    trapping = 1;
    setenv("AFFECTLENS_CPUID_MASK", "avx2", 1);
}
