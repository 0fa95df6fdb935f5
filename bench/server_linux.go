package main

import "syscall"

// childAttr makes the kernel send the server SIGTERM if the bench dies
// first, so no nats-server outlives a killed run.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} }
