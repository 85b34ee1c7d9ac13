"""tap-calltouch: a Singer tap for the Calltouch requests journal."""
