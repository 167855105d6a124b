"""`python -m monitor.simulator`: serve the simulated Meta APIs until Ctrl-C."""

from monitor.simulator.command import main

raise SystemExit(main())
