from alttext.cli import main

main()
