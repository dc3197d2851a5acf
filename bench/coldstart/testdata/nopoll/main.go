// Command nopoll is a function that never polls the runtime API, for the
// harness's failure paths: it exits with a message, or hangs when
// NOPOLL_HANG is set.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	if os.Getenv("NOPOLL_HANG") != "" {
		fmt.Fprintln(os.Stderr, "nopoll: hanging in init")
		time.Sleep(time.Hour)
	}
	fmt.Fprintln(os.Stderr, "nopoll: init failed on purpose")
	os.Exit(3)
}
