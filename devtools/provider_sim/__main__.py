"""``python -m provider_sim``: run the payroll provider simulator."""

from provider_sim.cli import main

main()
