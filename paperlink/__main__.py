from paperlink.cli.entry import main

main()
