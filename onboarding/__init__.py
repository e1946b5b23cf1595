"""Partner onboarding's pure core: the stage machine, the approval rule, the key-rotation
calendar and the file-contract compatibility rule. No I/O: workflows and tests call it directly."""
