"""Errors a user can act on, and the exit codes the trainer ends with (README.md lists them)."""

EXIT_OK = 0
EXIT_FAILED = 1  # an unexpected failure: a traceback, then one `error:` line
EXIT_BAD_INPUT = 2  # bundle, base model, settings, a missing package, a refused resume
EXIT_DIVERGED = 3  # the loss became NaN or infinite
EXIT_OUT_OF_MEMORY = 4
EXIT_TERMINATED = 143  # SIGTERM (128 + 15): a checkpoint was written when one could be
EXIT_INTERRUPTED = 130  # SIGINT (128 + 2), likewise


class TrainerError(Exception):
    """A problem with the input or the environment, told in one line that names the file, flag or package."""

    def __init__(self, message, exit_code=EXIT_BAD_INPUT):
        super().__init__(message)
        self.exit_code = exit_code


class NonFiniteLoss(TrainerError):
    """The loss became NaN or ±inf: the settings (usually the learning rate) made training diverge."""

    def __init__(self, message):
        super().__init__(message, EXIT_DIVERGED)
