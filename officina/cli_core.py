"""Core subcommands: run, robots, tasks, bench sim. (filled in by the foundation)"""
