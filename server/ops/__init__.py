"""Running the event on one machine: the supervisor, the LAN address, the go/no-go doctor."""
