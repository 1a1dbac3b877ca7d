import NIOCore

/// Decides when a client connection (or an HTTP/2 stream) has been too slow: the request
/// head, the request body and the keep-alive wait each have a deadline. A value type fed
/// events with the time passed in; it returns what to do with the connection's one timer.
///
/// Phases of one request, as seen by ``HTTPRequestTimeouts``:
/// - *head*: from accept (first request) or from the first byte of a later request until
///   its head is decoded. A total deadline: bytes arriving do not extend it, so a client
///   trickling a byte every few seconds is closed at `requestHead`.
/// - *body*: from the head until the request's end; the deadline is `requestBody` after
///   the last body byte. It is suspended while the server has stopped reading (no
///   `read()` asked for since the last read completed: backpressure is not the client's
///   stall) and restarts when reading resumes.
/// - *waiting for the response*: the server's turn; no client deadline. Bytes that arrive
///   now belong to a pipelined next request (NIO's `HTTPServerPipelineHandler` holds its
///   head back until this response ends).
/// - *keep-alive*: from the end of a response until the first byte of the next request;
///   `keepAlive` (nil on HTTP/2 streams, where the connection manager owns idleness).
///   If a pipelined request had already begun arriving when the response ended, its head
///   phase starts at the response's end instead.
///
/// Limitation: bytes of a pipelined request that arrive in the same read as the previous
/// request's end cannot be told apart from it here; if that pipelined head is incomplete,
/// the connection waits in keep-alive until the next byte, so the worst case for such a
/// client is `keepAlive + requestHead`.
struct HTTP1TimeoutStateMachine {
    /// The three limits; defaults are the sidecar flags' defaults.
    struct Configuration: Sendable, Equatable {
        /// `--request-head-timeout`.
        var requestHead: TimeAmount
        /// `--request-body-timeout`: the longest wait for the next body byte.
        var requestBody: TimeAmount
        /// `--keepalive-timeout`; nil where another layer owns idleness (HTTP/2 streams).
        var keepAlive: TimeAmount?

        init(requestHead: TimeAmount = .seconds(10), requestBody: TimeAmount = .seconds(30), keepAlive: TimeAmount? = .seconds(120)) {
            self.requestHead = requestHead
            self.requestBody = requestBody
            self.keepAlive = keepAlive
        }
    }

    /// Which limit ran out.
    enum CloseReason: Sendable, Equatable {
        case requestHeadTimeout
        case requestBodyTimeout
        case keepAliveTimeout
    }

    /// What the shell does with its timer and connection.
    enum Action: Equatable {
        case none
        /// Make sure the timer fires no later than this (an earlier timer may stay: it
        /// will fire early and re-arm).
        case arm(NIODeadline)
        /// Close the connection; `send408` when a `408 Request Timeout` may be written
        /// first (some request bytes came and no response byte was sent).
        case close(CloseReason, send408: Bool)
    }

    private enum Phase: Equatable {
        case notStarted
        case keepAlive(since: NIODeadline)
        case head(since: NIODeadline, bytesSeen: Bool)
        case body(lastProgress: NIODeadline)
        case awaitingResponse(nextRequestStarted: Bool)
        case closed
    }

    let configuration: Configuration
    private var phase: Phase = .notStarted
    /// A response to the current request is still being written (its end not yet).
    private var responsePending = false
    /// A response head has been written for the current request (then no 408 may follow).
    private var responseStarted = false
    /// The last read completed and nobody has asked for another yet.
    private var readPaused = false

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// When the current phase runs out, or nil when no client deadline applies.
    var deadline: NIODeadline? {
        switch phase {
        case .notStarted, .closed, .awaitingResponse:
            return nil
        case .keepAlive(let since):
            return configuration.keepAlive.map { since + $0 }
        case .head(let since, _):
            return since + configuration.requestHead
        case .body(let lastProgress):
            return readPaused ? nil : lastProgress + configuration.requestBody
        }
    }

    /// Whether a timeout has closed (or is closing) the connection.
    var isClosed: Bool { phase == .closed }

    /// The connection was accepted (or the stream opened) at `now`: the first head is due.
    mutating func connectionStarted(now: NIODeadline) -> Action {
        guard case .notStarted = phase else { return .none }
        phase = .head(since: now, bytesSeen: false)
        return armDeadline()
    }

    /// Raw bytes arrived from the client (before HTTP decoding).
    mutating func bytesReceived(now: NIODeadline) -> Action {
        switch phase {
        case .notStarted, .keepAlive:
            phase = .head(since: now, bytesSeen: true)
            return armDeadline()
        case .head(let since, false):
            phase = .head(since: since, bytesSeen: true)
            return .none
        case .awaitingResponse(false):
            phase = .awaitingResponse(nextRequestStarted: true)
            return .none
        case .head, .body, .awaitingResponse, .closed:
            return .none
        }
    }

    /// A request head was decoded and handed to the server.
    mutating func requestHeadReceived(now: NIODeadline) -> Action {
        guard phase != .closed else { return .none }
        phase = .body(lastProgress: now)
        responsePending = true
        responseStarted = false
        return armDeadline()
    }

    /// A request body part was decoded.
    mutating func requestBodyReceived(now: NIODeadline) -> Action {
        guard case .body = phase else { return .none }
        // The deadline only moves later: the armed timer fires early and re-arms.
        phase = .body(lastProgress: now)
        return .none
    }

    /// The request's end was decoded.
    mutating func requestEnded(now: NIODeadline) -> Action {
        switch phase {
        case .head, .body:
            if responsePending {
                phase = .awaitingResponse(nextRequestStarted: false)
                return .none
            }
            // The server answered early; the keep-alive wait starts now.
            phase = .keepAlive(since: now)
            return armDeadline()
        case .notStarted, .keepAlive, .awaitingResponse, .closed:
            return .none
        }
    }

    /// A response head was written.
    mutating func responseHeadSent() -> Action {
        if responsePending { responseStarted = true }
        return .none
    }

    /// A response's end was written.
    mutating func responseEnded(now: NIODeadline) -> Action {
        responsePending = false
        switch phase {
        case .awaitingResponse(let nextRequestStarted):
            phase = nextRequestStarted ? .head(since: now, bytesSeen: true) : .keepAlive(since: now)
            return armDeadline()
        case .notStarted, .keepAlive, .head, .body, .closed:
            return .none
        }
    }

    /// A read completed; until ``readRequested(now:)`` the server is not reading.
    mutating func readCompleted() -> Action {
        readPaused = true
        return .none
    }

    /// The server asked for more bytes. A body wait that was suspended restarts now.
    mutating func readRequested(now: NIODeadline) -> Action {
        guard readPaused else { return .none }
        readPaused = false
        if case .body = phase {
            phase = .body(lastProgress: now)
            return armDeadline()
        }
        return .none
    }

    /// The timer fired at `now`: close when the current deadline has passed, otherwise
    /// re-arm for the deadline (it moved later since the timer was set).
    mutating func timerFired(now: NIODeadline) -> Action {
        guard let deadline else { return .none }
        guard now >= deadline else { return .arm(deadline) }
        let action: Action
        switch phase {
        case .head(_, let bytesSeen):
            // No response is in flight in this phase: the previous one has ended.
            action = .close(.requestHeadTimeout, send408: bytesSeen)
        case .body:
            action = .close(.requestBodyTimeout, send408: !responseStarted)
        case .keepAlive:
            action = .close(.keepAliveTimeout, send408: false)
        case .notStarted, .awaitingResponse, .closed:
            return .none
        }
        phase = .closed
        return action
    }

    /// The connection closed for another reason: nothing more to time.
    mutating func connectionClosed() {
        phase = .closed
    }

    private func armDeadline() -> Action {
        deadline.map { .arm($0) } ?? .none
    }
}
