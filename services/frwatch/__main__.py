from frwatch.cli import main

raise SystemExit(main())
