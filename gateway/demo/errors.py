"""The one error of `printgw demo`, shared by its modules (the child processes, the cloud's
operator API and the orchestration all raise it; `run_demo` prints it as one line)."""


class DemoError(Exception):
    """A step of the demo failed; the message is one line for the user."""
