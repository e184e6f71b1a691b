from affectlens.cli import main

main()
