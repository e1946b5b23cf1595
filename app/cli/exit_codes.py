"""The exit codes of every ``integrations`` command: one table, after BSD ``sysexits.h``.

A caller (a script, CI, an operator's shell) tells these apart without reading stderr: a crash is
never counted as an ordinary invalid file, and a service that is down is never a bad input.

    ====  ===========  ===========================================================
    code  name         meaning
    ====  ===========  ===========================================================
    0     OK           done; a file was read and is valid
    1     REFUSED      refused, or the file was read and has problems / was rejected
    2     USAGE        bad command line, unknown option value or bad settings
    65    DATA_ERROR   the input cannot be read as what it claims to be (EX_DATAERR)
    66    NO_INPUT     no such file, or it cannot be opened (EX_NOINPUT)
    69    UNAVAILABLE  a service (Temporal, PostgreSQL, a partner) cannot be reached
    70    INTERNAL     a bug: an unexpected exception, reported in one line (EX_SOFTWARE)
    73    CANT_CREATE  an output file cannot be written (EX_CANTCREAT)
    ====  ===========  ===========================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1
    USAGE = 2
    DATA_ERROR = 65
    NO_INPUT = 66
    UNAVAILABLE = 69
    INTERNAL = 70
    CANT_CREATE = 73
