//go:build linux && !(mips || mipsle || mips64 || mips64le || sparc64)

package faultproxy

// soReusePort is SO_REUSEPORT (include/uapi/asm-generic/socket.h), which
// the syscall package does not define for Linux.
const soReusePort = 0xf
