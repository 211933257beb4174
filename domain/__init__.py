"""recado's pure core: standard library only, no clock, env, logging or I/O."""
