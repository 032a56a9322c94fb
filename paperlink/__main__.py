from paperlink.cli import main

main()
