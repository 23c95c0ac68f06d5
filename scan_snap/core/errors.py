"""Bad input: the errors that the command line reports as one clear message, not a traceback."""


class InputError(ValueError):
  """A config value, a work directory, a data folder or an option that the run cannot use."""
