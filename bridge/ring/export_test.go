package ring

import "unsafe"

// GoLayout is the Go mirror's view of struct sgb_ring, named as in C.
func GoLayout() map[string][2]uintptr {
	var h header
	tm := unsafe.Offsetof(h.timing)
	return map[string][2]uintptr{
		"magic":                  {unsafe.Offsetof(h.magic), unsafe.Sizeof(h.magic)},
		"version":                {unsafe.Offsetof(h.version), unsafe.Sizeof(h.version)},
		"channels":               {unsafe.Offsetof(h.channels), unsafe.Sizeof(h.channels)},
		"capacity":               {unsafe.Offsetof(h.capacity), unsafe.Sizeof(h.capacity)},
		"data_offset":            {unsafe.Offsetof(h.dataOffset), unsafe.Sizeof(h.dataOffset)},
		"stride":                 {unsafe.Offsetof(h.stride), unsafe.Sizeof(h.stride)},
		"size":                   {unsafe.Offsetof(h.size), unsafe.Sizeof(h.size)},
		"head":                   {unsafe.Offsetof(h.head), unsafe.Sizeof(h.head)},
		"start_fill":             {unsafe.Offsetof(h.startFill), unsafe.Sizeof(h.startFill)},
		"tail":                   {unsafe.Offsetof(h.tail), unsafe.Sizeof(h.tail)},
		"head_cache":             {unsafe.Offsetof(h.headCache), unsafe.Sizeof(h.headCache)},
		"running":                {unsafe.Offsetof(h.running), unsafe.Sizeof(h.running)},
		"underrun_events":        {unsafe.Offsetof(h.underrunEvents), unsafe.Sizeof(h.underrunEvents)},
		"underrun_frames":        {unsafe.Offsetof(h.underrunFrames), unsafe.Sizeof(h.underrunFrames)},
		"reads":                  {unsafe.Offsetof(h.reads), unsafe.Sizeof(h.reads)},
		"seq":                    {unsafe.Offsetof(h.seq), unsafe.Sizeof(h.seq)},
		"timing.cycle_ns":        {tm + unsafe.Offsetof(h.timing.cycleNs), unsafe.Sizeof(h.timing.cycleNs)},
		"timing.next_ns":         {tm + unsafe.Offsetof(h.timing.nextNs), unsafe.Sizeof(h.timing.nextNs)},
		"timing.period_ns":       {tm + unsafe.Offsetof(h.timing.periodNs), unsafe.Sizeof(h.timing.periodNs)},
		"timing.frames":          {tm + unsafe.Offsetof(h.timing.frames), unsafe.Sizeof(h.timing.frames)},
		"timing.nframes":         {tm + unsafe.Offsetof(h.timing.nframes), unsafe.Sizeof(h.timing.nframes)},
		"timing.rate":            {tm + unsafe.Offsetof(h.timing.rate), unsafe.Sizeof(h.timing.rate)},
		"timing.read_pos":        {tm + unsafe.Offsetof(h.timing.readPos), unsafe.Sizeof(h.timing.readPos)},
		"timing.cycle":           {tm + unsafe.Offsetof(h.timing.cycle), unsafe.Sizeof(h.timing.cycle)},
		"timing.underrun_frames": {tm + unsafe.Offsetof(h.timing.underrun), unsafe.Sizeof(h.timing.underrun)},
		"timing.wake_ns":         {tm + unsafe.Offsetof(h.timing.wakeNs), unsafe.Sizeof(h.timing.wakeNs)},
		"sizeof":                 {0, unsafe.Sizeof(h)},
	}
}

// ChannelAddr is the address of channel c's first sample.
func (r *Ring) ChannelAddr(c int) uintptr { return uintptr(unsafe.Pointer(&r.data[c][0])) }

const LineSize = lineSize
