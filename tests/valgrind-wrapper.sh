#!/bin/sh
# The exe_wrapper of `meson test --setup=valgrind`: test programs run
# under memcheck, failing on any error or definite leak; python-driven
# tests (CLI, symbols) pass through, since memcheck on the interpreter
# tests CPython, not miaopi.
case "$(basename "$1")" in
python*) exec "$@" ;;
esac
exec valgrind --quiet --error-exitcode=1 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --track-fds=no "$@"
