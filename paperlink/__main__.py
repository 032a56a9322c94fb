from paperlink.cli.main import main

main()
