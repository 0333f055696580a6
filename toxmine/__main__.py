from toxmine.cli import main

raise SystemExit(main())
