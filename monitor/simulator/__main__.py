"""`python -m monitor.simulator`: serve the simulated Threads API until Ctrl-C."""

from monitor.simulator.server import main

raise SystemExit(main())
