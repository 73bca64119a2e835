"""click commands and their rendering only: parse flags, build a Context, call one core function,
print."""
