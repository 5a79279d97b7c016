from kwtui.cli.launch import main

main()
