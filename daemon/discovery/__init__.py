"""mDNS announcement of the speaker (python-zeroconf) and the interface/address watcher."""
