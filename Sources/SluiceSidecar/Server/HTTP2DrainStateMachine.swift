import NIOHTTP2

/// When a draining HTTP/2 connection may say GOAWAY: only once the client has read the last
/// frame of every stream it was served, so that a client which takes any GOAWAY as the end
/// of the connection (Python's h2, and httpx on it) loses none of them.
///
/// A busy connection waits for its streams in flight to close, then sends a PING behind
/// their last frames; the client's ack shows it has read them all, and the GOAWAY follows
/// (or follows anyway when no ack comes in time: a client that stopped reading has nothing
/// left to lose). httpx needs the ack, not just the last frames: a reader thread that finds
/// the connection terminated fails its stream even when that stream's last events are
/// already queued. An idle connection gets its GOAWAY at once.
///
/// A stream opened after the drain began is refused (not tracked, not waited for); the
/// GOAWAY names the last stream opened before the drain, the last one processed.
struct HTTP2DrainStateMachine {
    enum State: Equatable {
        /// Serving streams as usual.
        case serving
        /// Draining: new streams are refused, the GOAWAY waits for the streams in flight.
        case draining
        /// Every stream in flight has ended; waiting for the ack of the PING sent behind them.
        case confirming
        /// GOAWAY sent; the connection closes.
        case closing
    }

    enum Action: Equatable {
        case none
        /// Send a PING behind every frame already written (and start the ack timer).
        case sendPing
        /// Send GOAWAY(NO_ERROR, lastStreamID) behind every frame already written, then close.
        case sendGoAwayAndClose(lastStreamID: HTTP2StreamID)
    }

    private(set) var state = State.serving
    /// Streams opened before the drain that have not closed yet.
    private(set) var inFlight: Set<HTTP2StreamID> = []
    /// The highest stream opened before the drain (the root stream when none was).
    private(set) var lastServedStreamID = HTTP2StreamID.rootStream

    /// Whether a stream the client opens now is served; false once the drain has begun.
    var admitsNewStreams: Bool { state == .serving }

    mutating func streamOpened(_ id: HTTP2StreamID) {
        guard state == .serving else { return }  // refused: not processed, not waited for
        inFlight.insert(id)
        lastServedStreamID = max(lastServedStreamID, id)
    }

    mutating func streamClosed(_ id: HTTP2StreamID) -> Action {
        guard inFlight.remove(id) != nil, state == .draining, inFlight.isEmpty else { return .none }
        state = .confirming
        return .sendPing
    }

    /// The server drains: GOAWAY at once on an idle connection, else after its streams.
    mutating func drain() -> Action {
        guard state == .serving else { return .none }
        guard inFlight.isEmpty else {
            state = .draining
            return .none
        }
        return goAway()
    }

    /// The client acked the PING sent behind the last streams: it has read them all.
    mutating func pingAcked() -> Action {
        state == .confirming ? goAway() : .none
    }

    /// No ack in time: the client is not reading, so it has nothing left to lose.
    mutating func ackTimedOut() -> Action {
        state == .confirming ? goAway() : .none
    }

    private mutating func goAway() -> Action {
        state = .closing
        return .sendGoAwayAndClose(lastStreamID: lastServedStreamID)
    }
}
