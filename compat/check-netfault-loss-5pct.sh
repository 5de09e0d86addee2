#!/usr/bin/env bash
# Network fault suite, one fault: see compat/netfaults.sh.
exec "$(dirname "$0")/netfaults.sh" loss-5pct
