"""Infrastructure every layer uses: configuration, errors, logging, clock, systemd."""
