"""The engagement state machine on synthetic sequences: hysteresis, blinks, yawns, look-away, formulas."""

import numpy as np
import pytest

from affectlens.errors import AffectlensError
from affectlens.labels import EMOTIONS
from affectlens.signals.engagement import EngagementConfig, EngagementScorer, expression_engagement
from affectlens.types import Faces

NEUTRAL = np.eye(len(EMOTIONS), dtype=np.float32)[EMOTIONS.index("neutral")]
HAPPY = np.eye(len(EMOTIONS), dtype=np.float32)[EMOTIONS.index("happiness")]


SURPRISED = np.eye(len(EMOTIONS), dtype=np.float32)[EMOTIONS.index("surprise")]


def frame(eye=0.95, mouth=0.02, yaw=0.0, pitch=0.0, presence=0.99, probs=NEUTRAL, tid=0, width=0.45) -> Faces:
    f = Faces(np.array([[0, 0, 100, 100]]), np.array([0.9]), track_ids=np.array([tid]))
    f.probs = f.smoothed = probs[None].copy()
    f.signals = {
        "yaw": np.array([yaw], np.float32),
        "pitch": np.array([pitch], np.float32),
        "roll": np.zeros(1, np.float32),
        "eye_openness": np.array([eye], np.float32),
        "mouth_open": np.array([mouth], np.float32),
        "mouth_width": np.array([width], np.float32),
        "face_presence": np.array([presence], np.float32),
    }
    return f


def run(seq, fps=30.0, cfg=None):
    """seq: list of dicts of frame() arguments, one per frame; returns the signals of each frame."""
    sc = EngagementScorer(cfg or EngagementConfig(alpha=1.0), tuple(EMOTIONS))
    return [sc.update(frame(**kw), i / fps).signals for i, kw in enumerate(seq)]


def col(out, k):
    return np.array([o[k][0] for o in out])


def test_a_blink_is_counted_not_flagged():
    seq = [{}] * 30 + [{"eye": 0.05}] * 6 + [{}] * 30  # 0.2 s closed
    out = run(seq)
    assert col(out, "blink").sum() == 1
    assert not col(out, "eyes_closed").any()
    assert (col(out, "state") == "engaged").all()


def test_closed_eyes_longer_than_a_blink_disengage_after_the_blink_limit():
    seq = [{}] * 30 + [{"eye": 0.05}] * 45 + [{}] * 30  # 1.5 s closed
    out = run(seq)
    closed = col(out, "eyes_closed")
    first = int(np.argmax(closed))
    assert 30 + 0.4 * 30 <= first <= 30 + 0.4 * 30 + 2  # after blink_max_s (0.4 s)
    assert closed[first:75].all() and not closed[76:].any()
    assert col(out, "blink").sum() == 0
    assert set(col(out, "state_reason")[first:75]) == {"eyes_closed"}
    assert (col(out, "engagement")[first:75] == 0).all()


def test_hysteresis_keeps_a_jittering_eye_state_from_flickering():
    # openness wobbling between 0.45 and 0.55: under the entry threshold (0.5) half the time, but
    # never above the exit threshold (0.6) once closed → one closed run, no flicker
    seq = [{}] * 10 + [{"eye": 0.45 if i % 2 else 0.55} for i in range(60)] + [{}] * 10
    closed = col(run(seq), "eyes_closed")
    changes = np.flatnonzero(np.diff(closed.astype(int)))
    assert len(changes) == 2


def test_a_yawn_needs_a_wide_mouth_held_two_seconds():
    short = run([{}] * 10 + [{"mouth": 0.7}] * 20 + [{}] * 10)  # 0.67 s: talking, laughing
    assert not col(short, "yawning").any()
    # 1.5 s of a wide mouth: a shout or an excited laugh (the staged clips hold theirs 1-1.7 s), not a yawn
    shout = run([{}] * 10 + [{"mouth": 0.7}] * 45 + [{}] * 10)
    assert not col(shout, "yawning").any()
    long = run([{}] * 10 + [{"mouth": 0.7}] * 90 + [{}] * 10)  # 3 s: a yawn's slow gape
    y = col(long, "yawning")
    assert y.any() and int(np.argmax(y)) == 10 + 60
    assert set(col(long, "state_reason")[y]) == {"yawning"}


def test_looking_away_after_a_second_turned():
    out = run([{}] * 10 + [{"yaw": 60.0}] * 60 + [{}] * 10)
    away = col(out, "looking_away")
    assert int(np.argmax(away)) == 40 and not away[70:].any()


def test_a_face_the_mesh_cannot_read_is_unknown_not_disengaged():
    """face_lost wins over every other reason, and its engagement and attention are NaN (left out of means), not
    0: a dim or half-hidden face is not a viewer who looked away. Its expression is still read."""
    out = run([{}] * 5 + [{"presence": 0.1, "eye": 0.0, "yaw": 60.0}] * 3 + [{}] * 2)
    lost = slice(5, 8)
    assert list(col(out, "state_reason")[lost]) == ["face_lost"] * 3
    assert list(col(out, "state")[lost]) == ["unknown"] * 3
    assert np.isnan(col(out, "engagement")[lost]).all() and np.isnan(col(out, "attention")[lost]).all()
    assert (col(out, "expression_engagement")[lost] == 0.5).all()  # neutral
    assert not col(out, "eyes_closed")[lost].any() and not col(out, "looking_away")[lost].any()
    assert list(col(out, "state")[8:]) == ["engaged"] * 2 and (col(out, "engagement")[8:] == 75).all()
    still = EngagementScorer(EngagementConfig(), tuple(EMOTIONS)).update(frame(presence=0.2), None).signals
    assert still["state"][0] == "unknown" and np.isnan(still["engagement"][0])


def test_still_images_decide_from_the_frame_alone():
    sc = EngagementScorer(EngagementConfig(), tuple(EMOTIONS))
    s = sc.update(frame(eye=0.1, mouth=0.8), None).signals
    assert s["eyes_closed"][0] and s["yawning"][0]
    assert s["state_reason"][0] == "eyes_closed"  # eyes_closed wins over yawning


def test_scores_follow_the_documented_formulas():
    cfg = EngagementConfig()
    ee = expression_engagement(np.stack([NEUTRAL, HAPPY, (NEUTRAL + HAPPY) / 2]), tuple(EMOTIONS), cfg.weights)
    assert ee.tolist() == pytest.approx([0.5, 1.0, 0.75])
    s = EngagementScorer(cfg, tuple(EMOTIONS)).update(frame(yaw=17.5, probs=HAPPY), None).signals
    attention = 1 - ((17.5 - cfg.yaw_free) / (cfg.yaw_away - cfg.yaw_free)) ** 2
    assert s["attention"][0] == pytest.approx(attention, abs=1e-3)
    assert s["engagement"][0] == pytest.approx(100 * attention * (0.5 + 0.5 * 1.0), abs=0.1)


def test_a_viewer_watching_a_screen_below_the_camera_is_fully_attentive():
    """The pitch penalty grew from 0 degrees: a laptop viewer watching the screen under the camera (pitch -10 to
    -20) lost 16-64 % of their attention; a pupil nearer a high classroom camera scored half their neighbours."""
    cfg = EngagementConfig()
    att = [EngagementScorer(cfg, tuple(EMOTIONS)).update(frame(pitch=p, probs=NEUTRAL), None).signals["attention"][0]
           for p in (-10.0, -15.0, -20.0, -24.0)]  # fmt: skip
    assert att[0] == att[1] == 1.0 and 0.7 <= att[2] < 1.0 and att[3] < 0.25, att


def test_a_face_first_seen_turned_away_is_looking_away_at_once():
    """A profile face walking into frame (or after a scene cut) read engaged for its first second."""
    sc = EngagementScorer(EngagementConfig(), tuple(EMOTIONS))
    s = sc.update(frame(yaw=-58.0, tid=3), 10.0).signals
    assert s["state_reason"][0] == "looking_away" and s["engagement"][0] == 0.0
    s = sc.update(frame(yaw=40.0, tid=4), 10.0).signals  # a glance of a face seen frontal before is no look-away
    sc.update(frame(yaw=0.0, tid=5), 10.0)
    assert sc.update(frame(yaw=40.0, tid=5), 10.1).signals["state"][0] == "engaged"


def test_eyes_of_a_face_reading_notes_or_in_profile_are_not_read():
    """Lids of a face looking down read closed (a woman eating read 'eyes_closed'), and turned heads counted
    blinks (115 a minute on a profile)."""
    sc = EngagementScorer(EngagementConfig(alpha=1.0), tuple(EMOTIONS))
    for i in range(30):  # one second looking down at notes, eyes reading shut
        s = sc.update(frame(eye=0.1, pitch=-22.0, tid=1), i / 30).signals
        t = sc.update(frame(eye=0.1, pitch=-30.0, tid=9), i / 30).signals
    # shut-looking lids on a bowed head: looking down (notes, a plate, nodding off), disengaged either way
    assert not s["eyes_closed"][0] and s["state_reason"][0] == "looking_away"
    assert not t["eyes_closed"][0] and t["state_reason"][0] == "looking_away"
    for i in range(30):  # the same head, eyes open: watching the screen below the camera
        u = sc.update(frame(eye=0.9, pitch=-22.0, tid=7), i / 30).signals
    assert u["state"][0] == "engaged"
    for i in range(30, 45):  # the bowed head of track 1 bursts out laughing, eyes squeezed: a laugh is engaged
        s = sc.update(frame(eye=0.1, pitch=-22.0, tid=1, probs=HAPPY, width=0.7), i / 30).signals
    assert s["laugh"][0] and s["state"][0] == "engaged", s["state_reason"][0]
    blinks = 0
    for i in range(60):  # blink-like dips on a profile
        blinks += int(sc.update(frame(eye=0.1 if i % 10 < 3 else 0.9, yaw=30.0, tid=2), i / 30).signals["blink"][0])
    assert blinks == 0


def test_ids_never_mix():
    sc = EngagementScorer(EngagementConfig(alpha=1.0), tuple(EMOTIONS))
    for i in range(40):  # id 0 keeps its eyes closed, id 1 keeps them open, same frames
        a = sc.update(frame(eye=0.05, tid=0), i / 30).signals
        b = sc.update(frame(eye=0.95, tid=1), i / 30).signals
    assert a["eyes_closed"][0] and not b["eyes_closed"][0]


def test_config_from_toml_and_bad_keys(tmp_path):
    p = tmp_path / "eng.toml"
    p.write_text("yaw_away = 20.0\n[weights]\nneutral = 0.6\n")
    cfg = EngagementConfig.load(p)
    assert cfg.yaw_away == 20.0 and cfg.weights["neutral"] == 0.6 and cfg.weights["happiness"] == 1.0
    p.write_text("yaw_awya = 20\n")
    with pytest.raises(AffectlensError, match="yaw_awya"):
        EngagementConfig.load(p)
    with pytest.raises(AffectlensError, match="not found"):
        EngagementConfig.load(tmp_path / "missing.toml")


def test_a_laugh_narrows_the_eyes_without_closing_them_and_is_no_yawn():
    out = run([{"eye": 0.1, "mouth": 0.35, "width": 0.7, "probs": HAPPY}] * 90)
    assert col(out, "laugh").all() and not col(out, "eyes_closed").any() and not col(out, "yawning").any()
    assert (col(out, "state") == "engaged").all()
    # the same narrowed eyes without the laugh (a neutral face) are closed eyes
    assert col(run([{"eye": 0.1, "width": 0.45}] * 90), "eyes_closed")[-1]


def test_the_tail_of_a_laugh_is_neither_a_yawn_nor_closed_eyes():
    """A 2 s laugh, then its open mouth or squint lingering a moment: the laugh's time is no part of the hold."""
    laugh = [{"eye": 0.1, "mouth": 0.35, "width": 0.7, "probs": HAPPY}] * 60
    mouth_tail = run(laugh + [{"mouth": 0.35, "width": 0.5}] * 9 + [{}] * 30)  # 0.3 s of open mouth after it
    assert not col(mouth_tail, "yawning").any()
    eyes_tail = run(laugh + [{"eye": 0.1, "width": 0.5}] * 3 + [{}] * 30)  # 0.1 s of narrowed eyes after it
    assert not col(eyes_tail, "eyes_closed").any() and col(eyes_tail, "blink").sum() <= 1
    assert not col(run(laugh + [{}] * 30), "blink").any()  # a laugh's squint reopening is no blink


@pytest.mark.parametrize("fps", [30.0, 5.0, 2.0])
def test_blinks_and_closed_eyes_are_told_apart_at_any_analysis_rate(fps):
    """A blink (0.15 s, seen in at most one frame at a low rate) counts; a 1.5 s closure is closed eyes."""
    n = int(fps * 2)
    seq = [{}] * n + [{"eye": 0.05}] * max(1, round(0.15 * fps)) + [{}] * n
    assert col(run(seq, fps=fps), "blink").sum() == 1
    closed = run([{}] * n + [{"eye": 0.05}] * round(1.5 * fps) + [{}] * n, fps=fps)
    assert col(closed, "eyes_closed").any() and col(closed, "blink").sum() == 0


def test_a_gasp_is_no_yawn_but_a_gaping_mouth_with_narrowed_eyes_is():
    gasp = run([{"eye": 0.98, "mouth": 0.4, "probs": SURPRISED}] * 90)
    assert col(gasp, "gasp").all() and not col(gasp, "yawning").any()
    yawn = run([{"eye": 0.6, "mouth": 0.4, "probs": SURPRISED}] * 90)  # eyes narrowing: the gasp rule does not apply
    assert not col(yawn, "gasp").any() and col(yawn, "yawning")[-1]


def test_eyes_narrowed_by_a_frown_are_not_closed():
    angry = np.eye(len(EMOTIONS), dtype=np.float32)[EMOTIONS.index("anger")]
    scowl = 0.75 * NEUTRAL + 0.25 * angry  # a squint the classifier reads as mostly neutral
    out = run([{"eye": 0.05, "probs": scowl}] * 90)
    assert col(out, "frown").all() and not col(out, "eyes_closed").any()
    assert (col(out, "state") == "engaged").all()
    # drowsy closed eyes (no frown) stay closed, and the rule has a threshold of its own
    assert col(run([{"eye": 0.05}] * 90), "eyes_closed")[-1]
    strict = EngagementConfig(alpha=1.0, frown_above=0.3)
    assert col(run([{"eye": 0.05, "probs": scowl}] * 60, cfg=strict), "eyes_closed")[-1]


def test_crying_squeezes_the_eyes_and_opens_the_mouth_without_sleep_or_a_yawn():
    sad = np.eye(len(EMOTIONS), dtype=np.float32)[EMOTIONS.index("sadness")]
    out = run([{"eye": 0.05, "mouth": 0.4, "probs": sad}] * 90)
    assert col(out, "cry").all() and not col(out, "eyes_closed").any() and not col(out, "yawning").any()
    # a faintly sad face with closed eyes (closed eyes at rest often read sad) is still closed eyes
    faint = run([{"eye": 0.05, "probs": 0.4 * sad + 0.6 * NEUTRAL}] * 90)
    assert not col(faint, "cry").any() and col(faint, "eyes_closed")[-1]


def test_a_smile_with_parted_lips_is_no_yawn():
    out = run([{"mouth": 0.25, "width": 0.56, "probs": HAPPY}] * 90)
    assert col(out, "smile").all() and not col(out, "yawning").any()
    assert col(run([{"mouth": 0.25, "width": 0.56}] * 90), "yawning")[-1]  # the same mouth on a neutral face


def test_staged_laugh_and_gasp_read_engaged(media):
    """The two staged cases of the issue: the laughing man of obama_and_biden.jpg, the gasp of expressions_man."""
    from affectlens.pipeline import Analyzer
    from affectlens.sources import load_image

    an = Analyzer()
    photo = an.analyze_image(load_image(media / "photos" / "obama_and_biden.jpg")).rows()
    laughing = max(photo, key=lambda r: r["p_happiness"])
    assert laughing["label"] == "happiness" and laughing["state"] == "engaged", laughing
    rows = [r for res in an.analyze(media / "videos" / "expressions_man.mp4") for r in res.rows()]
    gasp = [r for r in rows if r["time_s"] >= 4.5]
    assert len(gasp) > 20 and np.mean([r["state"] == "engaged" for r in gasp]) >= 0.9
    # the crying (1.5-3 s) and angry (3-4 s) faces squeeze their eyes shut: not asleep
    for start, end in ((1.5, 3.0), (3.0, 4.0)):
        part = [r["state"] == "engaged" for r in rows if start <= r["time_s"] < end]
        assert len(part) > 20 and np.mean(part) >= 0.7, (start, np.mean(part))
    assert not any(r["yawning"] for r in rows)  # the angry shout (3.8-4.4 s) holds its mouth wide ~1 s: no yawn
    surprised = an.analyze_image(load_image(media / "expressions" / "surprised.jpg")).rows()[0]
    assert surprised["gasp"] and not surprised["yawning"]
    disgusted = an.analyze_image(load_image(media / "expressions" / "disgusted.jpg")).rows()[0]
    assert disgusted["eye_openness"] < 0.5 and disgusted["frown"] and disgusted["state"] == "engaged", disgusted


def test_an_excited_open_mouth_held_a_second_is_no_yawn(media):
    """The boy of tv_family_dinner.mp4 (9.5-10.3 s): P(happiness) 0.99, eyes wide, mouth wide about 1 s."""
    from affectlens.pipeline import Analyzer

    rows = [r for res in Analyzer().analyze(media / "videos" / "tv_family_dinner.mp4") for r in res.rows()]
    boy = [r for r in rows if 9.5 <= r["time_s"] <= 10.3 and r["p_happiness"] > 0.9 and r["mouth_open"] > 0.25]
    assert len(boy) >= 5
    assert not any(r["yawning"] for r in boy) and all(r["state"] == "engaged" for r in boy)


@pytest.mark.parametrize(("fps", "closure_s"), [(5.0, 0.6), (8.0, 0.45)])
def test_a_natively_sparse_stream_gets_the_same_correction_as_a_reduced_rate(fps, closure_s):
    """A 5 fps webcam or remote respondent (no --fps: the pipeline knows no sampling) read a 0.6 s closure, seen
    in 3 frames 0.4 s apart, as a blink: each track's measured spacing now extends its durations the same way."""
    t = np.arange(0, 6, 1 / fps)
    closed = (t >= 2) & (t < 2 + closure_s)
    sc = EngagementScorer(EngagementConfig(alpha=1.0), tuple(EMOTIONS))  # sampling_s 0
    out = [sc.update(frame(eye=0.05 if c else 0.95), float(x)).signals for x, c in zip(t, closed, strict=True)]
    assert col(out, "blink").sum() == 0 and col(out, "eyes_closed").any()
    sc = EngagementScorer(EngagementConfig(alpha=1.0), tuple(EMOTIONS))
    seq = [{}] * int(2 * fps) + [{"eye": 0.05}] + [{}] * int(2 * fps)  # a blink, seen in one frame
    once = [sc.update(frame(**kw), i / fps).signals for i, kw in enumerate(seq)]
    assert col(once, "blink").sum() == 1 and not col(once, "eyes_closed").any()


def test_a_full_rate_stream_reads_durations_as_before():
    """At 30 fps the measured spacing adds nothing: a 0.4 s closure is a blink, 0.43 s is closed eyes; nor does a
    moment the face was unreadable (its frames skip the track, a gap that is not the stream's rate)."""
    for lost in (0, 15):
        for frames, blink in ((13, 1), (14, 0)):  # first to last closed frame: 0.4 s, 0.433 s
            out = run([{}] * 30 + [{"presence": 0.1}] * lost + [{"eye": 0.05}] * frames + [{}] * 30)
            assert col(out, "blink").sum() == blink and col(out, "eyes_closed").any() == (not blink), (lost, frames)


@pytest.mark.parametrize(("fps", "closure_s"), [(5.0, 0.6), (2.0, 0.6), (1.0, 1.5)])
def test_durations_at_a_reduced_rate_count_the_time_between_analysed_frames(fps, closure_s):
    """A 0.6 s closure seen in 3 frames at --fps 5 spans 0.4 s from its first to its last analysed frame and
    read as a blink; the pipeline adds half the extra spacing (Stream: _sampling_s), at most a blink's length,
    so a closure seen once at a low rate is still most likely a blink."""
    from affectlens.pipeline import _sampling_s

    def scorer():
        return EngagementScorer(EngagementConfig(alpha=1.0), tuple(EMOTIONS), sampling_s=_sampling_s(30.0, 1, fps))

    t = np.arange(0, 6, 1 / fps)
    closed = (t >= 2) & (t < 2 + closure_s)
    sc = scorer()
    out = [sc.update(frame(eye=0.05 if c else 0.95), float(x)).signals for x, c in zip(t, closed, strict=True)]
    assert col(out, "blink").sum() == 0 and col(out, "eyes_closed").any()
    sc = scorer()
    seq = [{}] * int(2 * fps) + [{"eye": 0.05}] + [{}] * int(2 * fps)  # a blink, seen in one analysed frame
    once = [sc.update(frame(**kw), i / fps).signals for i, kw in enumerate(seq)]
    assert col(once, "blink").sum() == 1 and not col(once, "eyes_closed").any()
