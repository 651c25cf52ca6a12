// The capture -> writer hand-over: two lock-free SPSC rings, one of audio bytes and one of
// CaptureRecords. The capture thread is the only producer, the writer the only consumer.
#pragma once

#include "framestamp/capture.hpp"
#include "record/spsc_ring.hpp"

namespace framestamp {

class RingSinkImpl final : public CaptureSink {
  public:
    RingSinkImpl(std::size_t audio_bytes, std::size_t records, std::size_t frame_bytes)
        : audio_(audio_bytes), records_(records), frame_bytes_(frame_bytes) {}

    uint64_t audio_space_frames() const override { return audio_.writable() / frame_bytes_; }
    void push_audio(const void* interleaved, uint64_t frames) override {
        // The caller checked audio_space_frames(), so this writes everything.
        audio_.write(static_cast<const unsigned char*>(interleaved), frames * frame_bytes_);
    }
    bool push_record(const CaptureRecord& record) override {
        return records_.write(&record, 1) == 1;
    }

    SpscRing<unsigned char>& audio() { return audio_; }
    SpscRing<CaptureRecord>& records() { return records_; }
    const SpscRing<unsigned char>& audio() const { return audio_; }
    std::size_t frame_bytes() const { return frame_bytes_; }

  private:
    SpscRing<unsigned char> audio_;
    SpscRing<CaptureRecord> records_;
    std::size_t frame_bytes_;
};

}  // namespace framestamp
