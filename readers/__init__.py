"""Every kind of file this service reads, and the domain reader that reads it: built-in file
contracts (NACHA, X12, BAI2, camt, PSP reports)."""
