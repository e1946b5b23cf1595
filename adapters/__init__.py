"""One module or package per external system: SFTP, PGP, the landing zone, Temporal's client and
payload codec, column crypto, the payroll provider, PSP webhook signatures, Azure messaging.
I/O, no business decisions."""
