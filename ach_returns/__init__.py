"""The ACH return state machine: pure rules over NACHA return and NOC events, no I/O.

``decide(state, event)`` returns the next state and the commands (timers, re-presentments,
blocks, corrections, notifications) the workflow must carry out. The workflow only orchestrates;
everything about *what* NACHA allows lives here, where it is tested without Temporal.
"""
