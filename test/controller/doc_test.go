// Package controller holds the controller's acceptance tests: the driver
// runs in-process in --mode=controller (package inproc), is called over its
// CSI unix socket exactly as the sidecars call it, and talks to the RDS
// emulator over real SSH. Every check about what happened on the "RDS" is
// made on the emulator's side (its command log, its disks, its backing
// files), never through the driver's own view.
package controller
