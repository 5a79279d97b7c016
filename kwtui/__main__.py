from kwtui.cli.main import main

main()
