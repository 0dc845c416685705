package syscalls

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// PidfdOpen opens a pidfd for process pid (a thread-group leader).
func PidfdOpen(pid int) (int, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open(%d): %w", pid, err)
	}
	return fd, nil
}

// GetFd duplicates file descriptor fd of the process behind pidfd into this
// process (pidfd_getfd, close-on-exec). The copy shares the open file
// description: flags such as O_NONBLOCK set on it are seen by the tracee
// too. It is a raw descriptor on purpose: os.File.Fd would switch the
// shared description to blocking mode behind the program's back.
func GetFd(pidfd, fd int) (int, error) {
	if fd < 0 {
		return -1, unix.EBADF
	}
	return unix.PidfdGetfd(pidfd, fd, 0)
}

// tcpStateClose is TCP_CLOSE from include/net/tcp_states.h: a socket that
// was never connected (or whose connection is gone).
const tcpStateClose = 7

// SocketInfo describes a socket as the kernel sees it.
type SocketInfo struct {
	Domain, Type, Protocol int
	// NonBlocking is O_NONBLOCK on the open file description.
	NonBlocking bool
	// Fresh is true for a stream socket that is neither connected, nor
	// connecting, nor listening (TCP_CLOSE), and for every datagram socket.
	Fresh bool
}

// InspectSocket reads what chainrun needs to know about socket fd.
func InspectSocket(fd int) (SocketInfo, error) {
	var si SocketInfo
	var err error
	if si.Domain, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		return si, fmt.Errorf("SO_DOMAIN: %w", err)
	}
	if si.Type, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return si, fmt.Errorf("SO_TYPE: %w", err)
	}
	if si.Protocol, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil {
		return si, fmt.Errorf("SO_PROTOCOL: %w", err)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return si, fmt.Errorf("F_GETFL: %w", err)
	}
	si.NonBlocking = flags&unix.O_NONBLOCK != 0
	si.Fresh = true
	if si.Type == unix.SOCK_STREAM && (si.Protocol == unix.IPPROTO_TCP || si.Protocol == unix.IPPROTO_MPTCP) {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return si, fmt.Errorf("TCP_INFO: %w", err)
		}
		si.Fresh = info.State == tcpStateClose
	}
	return si, nil
}
