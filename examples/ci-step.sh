#!/bin/sh
# ci-step.sh: run one CI step in newns's namespaces/ci, from any CI system
# (GitLab, Jenkins, Buildkite, a cron job). Run it from the checkout:
#
#   examples/ci-step.sh make test        a command, with its arguments
#   examples/ci-step.sh < step.sh        a script on standard input, run by bash -e
#   examples/ci-step.sh <<'STEP'         the same, written inline
#   make
#   make test
#   STEP
#
# The step sees the checkout copy-on-write, a private /tmp and none of the
# credentials in the home directory (see namespaces/ci). Its output and exit
# status are its own; 125 is newns's own failure, reported on stderr before
# the step runs, so a CI log tells a broken namespace from a failing step.
#
# NEWNS_CI names another namespace file (default: namespaces/ci, in the
# checkout).
set -eu
ns=${NEWNS_CI:-namespaces/ci}
if [ "$#" -eq 0 ]; then
    set -- bash -e
fi
exec newns -f "$ns" -- "$@"
