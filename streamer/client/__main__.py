"""``python -m streamer.client --help``"""

from ._cli import main

raise SystemExit(main())
