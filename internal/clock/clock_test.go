package clock

import (
	"slices"
	"testing"
	"time"
)

func TestFakeRunsWhatIsDueInOrder(t *testing.T) {
	start := time.Date(2025, 11, 6, 9, 0, 0, 0, time.UTC)
	c := NewFake(start)
	var ran []string
	c.AfterFunc(2*time.Second, func() { ran = append(ran, "2s") })
	c.AfterFunc(time.Second, func() { ran = append(ran, "1s") })
	stopped := c.AfterFunc(1500*time.Millisecond, func() { ran = append(ran, "stopped") })
	c.AfterFunc(3*time.Second, func() { ran = append(ran, "3s") })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop of a pending timer must report true once")
	}
	c.Advance(time.Second - time.Nanosecond)
	if len(ran) != 0 {
		t.Fatalf("ran before their time: %v", ran)
	}
	c.Advance(time.Second + time.Nanosecond)
	if !slices.Equal(ran, []string{"1s", "2s"}) {
		t.Fatalf("after 2 s: ran %v", ran)
	}
	if got := c.Now(); !got.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("Now %v", got)
	}
	c.AfterFunc(0, func() { ran = append(ran, "now") })
	if ran[len(ran)-1] != "now" {
		t.Fatalf("a zero delay did not run at once: %v", ran)
	}
	c.Advance(time.Hour)
	if !slices.Equal(ran, []string{"1s", "2s", "now", "3s"}) {
		t.Fatalf("after an hour: ran %v (each once, the stopped one never)", ran)
	}
}

func TestRealAfterFunc(t *testing.T) {
	var c Clock = Real{}
	done := make(chan struct{})
	c.AfterFunc(0, func() { close(done) })
	<-done
	if !c.AfterFunc(time.Hour, func() {}).Stop() {
		t.Fatal("a pending real timer did not stop")
	}
}
