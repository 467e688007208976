package faultproxy

import "syscall"

const soReusePort = syscall.SO_REUSEPORT
