// The monitor's pure part: one poll's readings in, the snapshot (verdict, reason, summary) and
// the transitions worth a log line out.
#include <sys/timex.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "framestamp/clock_sync.hpp"

namespace framestamp {

namespace {

// "12 us fast": chrony's words; a positive correction means the clock is slow.
std::string offset_text(int64_t correction_ns) {
    return format_duration_ns(std::llabs(correction_ns)) + (correction_ns > 0 ? " slow" : " fast");
}

std::string reference_text(const ChronyTracking& t) {
    char id[16];
    std::snprintf(id, sizeof id, "%08X", t.reference_id);
    return t.reference_name.empty() ? std::string(id)
                                    : std::string(id) + " (" + t.reference_name + ")";
}

struct Verdict {
    bool synchronised = false;
    std::string reason;   // for SyncSnapshot::reason
    std::string summary;  // the part inside the summary's parentheses before any chronyd note
};

Verdict chrony_verdict(const ChronyTracking& t) {
    constexpr uint32_t kUnsyncStratum = 16;
    const std::string stratum = "stratum " + std::to_string(t.stratum);
    Verdict v;
    if (t.leap == ChronyLeap::unsynchronised) {
        v.reason = "chronyd: leap status Not synchronised";
        v.summary = "chronyd: leap status Not synchronised, " + stratum;
    } else if (t.stratum == 0 || t.stratum >= kUnsyncStratum) {
        v.reason = "chronyd: " + stratum;
        v.summary = v.reason;
    } else if (t.local_reference()) {
        // `local` makes chronyd serve its own free-running clock: not a time source.
        v.reason = "chronyd: local reference only (no time source)";
        v.summary = "chronyd: local reference only, " + stratum;
    } else {
        v.synchronised = true;
        v.reason = "chronyd: " + stratum + ", leap " + std::string(chrony_leap_name(t.leap)) +
                   ", reference " + reference_text(t);
        v.summary = "chronyd: " + offset_text(t.system_offset_ns) + ", max. error " +
                    format_duration_ns(t.max_error_ns()) + ", " + stratum;
    }
    return v;
}

Verdict adjtimex_verdict(const AdjtimexResult& a) {
    Verdict v;
    if (!a.reading) {
        v.reason = "ntp_adjtime failed: " + std::string(std::strerror(a.error));
        v.summary = v.reason;
        return v;
    }
    const AdjtimexReading& r = *a.reading;
    const bool unsync = (r.status & STA_UNSYNC) != 0;
    const bool error = r.state == TIME_ERROR;
    v.synchronised = !unsync && !error;
    if (v.synchronised) {
        v.reason = "adjtimex: " + adjtimex_state_name(r.state) + ", STA_UNSYNC clear";
        v.summary = "adjtimex: " + offset_text(r.offset_ns) + ", max. error " +
                    format_duration_ns(r.maxerror_ns);
    } else {
        v.reason = unsync ? "adjtimex: STA_UNSYNC set" : "adjtimex: TIME_ERROR";
        v.summary = unsync ? "adjtimex STA_UNSYNC" : "adjtimex TIME_ERROR";
    }
    return v;
}

}  // namespace

std::string format_duration_ns(int64_t ns) {
    const char* sign = ns < 0 ? "-" : "";
    const double a = std::fabs(static_cast<double>(ns));
    char buf[48];
    if (a < 10e3) {
        std::snprintf(buf, sizeof buf, "%s%.1f us", sign, a / 1e3);
    } else if (a < 1e6) {
        std::snprintf(buf, sizeof buf, "%s%.0f us", sign, a / 1e3);
    } else if (a < 10e6) {
        std::snprintf(buf, sizeof buf, "%s%.1f ms", sign, a / 1e6);
    } else if (a < 1e9) {
        std::snprintf(buf, sizeof buf, "%s%.0f ms", sign, a / 1e6);
    } else {
        std::snprintf(buf, sizeof buf, "%s%.1f s", sign, a / 1e9);
    }
    return buf;
}

std::optional<SyncSample> SyncSnapshot::sample() const {
    const bool chrony_fresh = chronyd == ChronydState::reachable && chrony.has_value();
    if (!adjtimex.reading && !chrony_fresh) {
        return std::nullopt;
    }
    SyncSample s;
    if (adjtimex.reading) {
        s.status = adjtimex.reading->status;
    }
    if (chrony_fresh) {
        s.source = "chronyd";
        s.offset_ns = chrony->system_offset_ns;
        s.esterror_ns = chrony->rms_offset_ns;
        s.maxerror_ns = chrony->max_error_ns();
    } else {
        s.source = "adjtimex";
        s.offset_ns = adjtimex.reading->offset_ns;
        s.esterror_ns = adjtimex.reading->esterror_ns;
        s.maxerror_ns = adjtimex.reading->maxerror_ns;
    }
    s.synchronised = synchronised;
    const std::string d = detail();
    d.copy(s.detail, sizeof s.detail - 1);
    return s;
}

std::string SyncSnapshot::detail() const {
    static constexpr const char* kLeaps[] = {"normal", "insert_second", "delete_second",
                                             "unsynchronised"};
    static constexpr const char* kChronyd[] = {"not_asked", "no_chronyc", "reachable",
                                               "unreachable"};
    char buf[kMaxDetail + 1];
    if (chronyd == ChronydState::reachable && chrony) {
        const ChronyTracking& t = *chrony;
        std::snprintf(buf, sizeof buf,
                      "stratum=%u;ref=%08X;leap=%s;root_delay_ns=%lld;root_dispersion_ns=%lld;"
                      "freq_ppm=%.3f;skew_ppm=%.3f",
                      t.stratum, t.reference_id, kLeaps[static_cast<int>(t.leap)],
                      static_cast<long long>(t.root_delay_ns),
                      static_cast<long long>(t.root_dispersion_ns), t.frequency_ppm, t.skew_ppm);
    } else if (adjtimex.reading) {
        std::snprintf(buf, sizeof buf, "state=%s;freq_ppm=%.3f;chronyd=%s",
                      adjtimex_state_name(adjtimex.reading->state).c_str(),
                      adjtimex.reading->frequency_ppm, kChronyd[static_cast<int>(chronyd)]);
    } else {
        std::snprintf(buf, sizeof buf, "adjtimex_errno=%d;chronyd=%s", adjtimex.error,
                      kChronyd[static_cast<int>(chronyd)]);
    }
    return buf;
}

SyncTracker::SyncTracker(ChronydMode mode, std::string chronyd_host)
    : mode_(mode), chronyd_host_(std::move(chronyd_host)) {}

std::vector<SyncTransition> SyncTracker::update(int64_t mono_ns, int64_t realtime_ns,
                                                const AdjtimexResult& adjtimex,
                                                const std::optional<ChronycResult>& chrony) {
    SyncSnapshot next;
    next.taken_mono_ns = mono_ns;
    next.taken_realtime_ns = realtime_ns;
    next.adjtimex = adjtimex;
    if (!chrony) {
        next.chronyd = ChronydState::not_asked;
    } else if (chrony->status == ChronycStatus::ok && chrony->tracking) {
        next.chronyd = ChronydState::reachable;
        next.chrony = chrony->tracking;
    } else {
        next.chronyd = chrony->status == ChronycStatus::missing ? ChronydState::no_chronyc
                                                                : ChronydState::unreachable;
        next.chronyd_error = chrony->error;
    }

    const Verdict v = next.chrony ? chrony_verdict(*next.chrony) : adjtimex_verdict(next.adjtimex);
    next.synchronised = v.synchronised;
    next.reason = v.reason;
    std::string note;
    if (next.chronyd == ChronydState::unreachable) {
        note = "; chronyd not reachable";
    } else if (next.chronyd == ChronydState::no_chronyc) {
        note = "; no chronyc";
    }
    const char* head = next.synchronised                 ? "clock synced ("
                       : adjtimex.reading || next.chrony ? "clock UNSYNCHRONISED ("
                                                         : "clock sync UNKNOWN (";
    next.summary = head + v.summary + note + ")";

    // Transitions: chronyd's reachability first (it explains the verdict), then the verdict.
    std::vector<SyncTransition> out;
    const bool loud = mode_ == ChronydMode::yes;
    const ChronydState before = first_ ? ChronydState::not_asked : snapshot_.chronyd;
    if (first_ || next.chronyd != before) {
        switch (next.chronyd) {
            case ChronydState::not_asked:
                if (first_) {
                    out.push_back({false,
                                   "chronyd is not asked (clock_sync.chronyd: no); the "
                                   "clock's sync state comes from ntp_adjtime"});
                }
                break;
            case ChronydState::reachable:
                out.push_back({false, std::string(chronyd_answered_ ? "chronyd answers again at "
                                                                    : "chronyd answers at ") +
                                          chronyd_host_ + ": stratum " +
                                          std::to_string(next.chrony->stratum) + ", reference " +
                                          reference_text(*next.chrony)});
                break;
            case ChronydState::no_chronyc:
                out.push_back({loud || before == ChronydState::reachable,
                               "chronyc not found (" + next.chronyd_error +
                                   "): chronyd cannot be asked; the clock's sync state comes "
                                   "from ntp_adjtime"});
                break;
            case ChronydState::unreachable:
                out.push_back({loud || before == ChronydState::reachable,
                               std::string(before == ChronydState::reachable
                                               ? "chronyd stopped answering at "
                                               : "chronyd does not answer at ") +
                                   chronyd_host_ + " (" + next.chronyd_error +
                                   "); the clock's sync state comes from ntp_adjtime"});
                break;
        }
    }
    if (first_) {
        out.push_back({!next.synchronised, next.summary});
    } else if (next.synchronised != snapshot_.synchronised) {
        out.push_back({!next.synchronised,
                       (next.synchronised ? "clock synchronised again: " : "clock sync lost: ") +
                           next.summary});
    }
    chronyd_answered_ = chronyd_answered_ || next.chronyd == ChronydState::reachable;
    snapshot_ = std::move(next);
    first_ = false;
    return out;
}

}  // namespace framestamp
