package uio_test

import "runtime"

func lockAndRun(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f()
}
