import SluiceWire

/// The life of one call on an egress connection (HTTP/1.1) or stream (HTTP/2), as a value:
/// the ``EgressHandler`` feeds it events and performs the action each returns.
///
/// Two halves move together. The request half collects the body within its limits; the
/// response half runs the stages, starts the call's ``ResponseSource`` and decides, part by
/// part, whether the answer is held (JSON, so its cost can go in a header), relayed
/// (event streams, and JSON too big or too costly in memory to hold), ended with an error
/// event (a stream cut short), replaced by an error reply (nothing sent yet) or aborted
/// (a body under way that has no in-band way to say it broke).
///
/// Upstream calls decided while the handler is still reading start at the end of that
/// read (``Event/readComplete``): a client that resets a stream in the same packet as its
/// request (HTTP/2 rapid reset) costs no upstream connection.
struct CallLifecycle {
    enum RequestState: Equatable {
        /// No request yet, or the last one was answered.
        case idle
        /// Head seen; body bytes collected so far.
        case receiving(bodyBytes: Int)
        /// Answered early (too large, no memory): the rest of the body is read and dropped.
        case discarding
        /// Head, body and end received.
        case complete
    }

    enum ResponseState: Equatable {
        /// Nothing started.
        case none
        /// The stages' `enter` hooks are running (maybe suspended).
        case stages
        /// The source is built and waits for the end of the current read to start.
        case pendingStart
        /// The source is started; no head yet.
        case awaitingHead
        /// A non-stream answer held until its end; bytes held so far.
        case buffering(bytes: Int)
        /// Head sent; parts relayed as they come. `events` for SSE (usage read, errors
        /// reported as an event), otherwise raw bytes.
        case streaming(events: Bool)
        /// The answer is over (written in full, cut, or the client left).
        case ended
    }

    /// What happened.
    enum Event: Equatable {
        case requestHead(contentLength: Int?, expectsContinue: Bool)
        /// `reserved`: whether memory for the bytes was granted.
        case requestBody(bytes: Int, reserved: Bool)
        case requestEnd
        /// The stages decided; `duringRead`: the decision came while reading client bytes.
        case sourceReady(duringRead: Bool)
        case readComplete
        case sourceHead(status: Int, isEventStream: Bool)
        /// `reserved`: whether memory to hold the part was granted.
        case sourceBody(bytes: Int, reserved: Bool)
        /// `complete`: for event streams, whether the final event (`[DONE]`, `message_stop`) came.
        case sourceEnd(complete: Bool)
        case sourceFailed(UpstreamFailureKind)
        case clientWritabilityChanged(writable: Bool)
        case clientClosed
    }

    /// What the handler must do.
    enum Action: Equatable {
        case none
        case sendContinue
        case appendRequestBody
        case dropRequestBody
        /// Answer now with a local error (start its source), then close the connection (HTTP/1.1).
        case reject(SluiceErrorCode)
        case runStages
        case startSource
        case sendStreamHead
        case holdHead
        case bufferBody
        /// Send the held head and bytes, then relay the rest as it comes.
        case flushHeldAndRelay
        case relayBody
        case sendHeldAnswer
        case endStream
        case endBrokenStream(SluiceErrorCode)
        /// Nothing was sent: answer with an error reply instead.
        case answerWithError(SluiceErrorCode)
        /// The head and part of the body are out and the format cannot carry an error:
        /// reset the connection or stream, so the client cannot take it for a complete answer.
        case abort
        case setDemand(Bool)
        /// The client left: stop the source (if any) and finish the call with this outcome.
        case cancelAndFinish(CallOutcome)
    }

    private(set) var request = RequestState.idle
    private(set) var response = ResponseState.none
    /// Whether the connection must close after this answer (HTTP/1.1).
    private(set) var closeAfterResponse = false

    let maxRequestBodyBytes: Int
    let maxBufferedResponseBytes: Int

    init(maxRequestBodyBytes: Int, maxBufferedResponseBytes: Int) {
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.maxBufferedResponseBytes = maxBufferedResponseBytes
    }

    /// Whether a source is producing (its demand can be changed, it must be cancelled).
    var sourceIsActive: Bool {
        switch response {
        case .awaitingHead, .buffering, .streaming: return true
        default: return false
        }
    }

    mutating func handle(_ event: Event) -> Action {
        switch event {
        case .requestHead(let length, let expectsContinue):
            guard request == .idle || request == .complete || response == .ended else { return .none }
            request = .receiving(bodyBytes: 0)
            response = .none
            closeAfterResponse = false
            if let length, length > maxRequestBodyBytes { return rejectRequest(.requestTooLarge) }
            return expectsContinue ? .sendContinue : .none

        case .requestBody(let bytes, let reserved):
            switch request {
            case .receiving(let held):
                if held + bytes > maxRequestBodyBytes { return rejectRequest(.requestTooLarge) }
                if !reserved { return rejectRequest(.overloaded) }
                request = .receiving(bodyBytes: held + bytes)
                return .appendRequestBody
            case .discarding:
                return .dropRequestBody
            default:
                return .none
            }

        case .requestEnd:
            switch request {
            case .receiving:
                request = .complete
                guard response == .none else { return .none }
                response = .stages
                return .runStages
            case .discarding:
                request = .complete
                return .none
            default:
                return .none
            }

        case .sourceReady(let duringRead):
            guard response == .stages || response == .none else { return .none }
            if duringRead {
                response = .pendingStart
                return .none
            }
            response = .awaitingHead
            return .startSource

        case .readComplete:
            guard response == .pendingStart else { return .none }
            response = .awaitingHead
            return .startSource

        case .sourceHead(let status, let isEventStream):
            guard response == .awaitingHead else { return .none }
            if isEventStream, status == 200 {
                response = .streaming(events: true)
                return .sendStreamHead
            }
            response = .buffering(bytes: 0)
            return .holdHead

        case .sourceBody(let bytes, let reserved):
            switch response {
            case .buffering(let held):
                if held + bytes > maxBufferedResponseBytes || !reserved {
                    // Too big (or too costly) to hold for a cost header: relay as it comes.
                    response = .streaming(events: false)
                    return .flushHeldAndRelay
                }
                response = .buffering(bytes: held + bytes)
                return .bufferBody
            case .streaming:
                return .relayBody
            default:
                return .none
            }

        case .sourceEnd(let complete):
            switch response {
            case .buffering:
                response = .ended
                return .sendHeldAnswer
            case .streaming(events: true):
                response = .ended
                // A cut event stream still ends with intact HTTP framing (an error event,
                // then the final chunk): the connection stays usable. Closing it would lose
                // the client's next request on it, which it has every right to send.
                return complete ? .endStream : .endBrokenStream(.upstreamError)
            case .streaming(events: false):
                response = .ended
                return .endStream
            case .awaitingHead:
                response = .none
                return .answerWithError(.upstreamError)
            default:
                return .none
            }

        case .sourceFailed(let kind):
            let code: SluiceErrorCode = kind == .timeout ? .upstreamTimeout : .upstreamError
            switch response {
            case .awaitingHead, .buffering:
                // Nothing has reached the client: answer with an error of our own.
                response = .none
                return .answerWithError(code)
            case .streaming(events: true):
                response = .ended
                return .endBrokenStream(code)
            case .streaming(events: false):
                response = .ended
                closeAfterResponse = true
                return .abort
            default:
                return .none
            }

        case .clientWritabilityChanged(let writable):
            return sourceIsActive ? .setDemand(writable) : .none

        case .clientClosed:
            // A call exists once the request is complete (or was answered early); a client
            // that leaves mid-request leaves nothing to finish.
            let hadCall: Bool
            switch response {
            case .stages, .pendingStart, .awaitingHead, .buffering, .streaming: hadCall = true
            case .none, .ended: hadCall = false
            }
            response = .ended
            request = .idle
            return hadCall ? .cancelAndFinish(.clientClosed) : .none
        }
    }

    /// Marks the answer as written in full (the handler calls this after the end part).
    mutating func responseWritten() {
        response = .ended
        if request == .complete { request = .idle }
    }

    /// The HTTP/1.1 client asked to close (`Connection: close`, HTTP/1.0).
    mutating func closeAfterThisResponse() {
        closeAfterResponse = true
    }

    /// Answers before the request is complete; the reply then flows like any source's.
    private mutating func rejectRequest(_ code: SluiceErrorCode) -> Action {
        request = .discarding
        closeAfterResponse = true
        guard response == .none else { return .dropRequestBody }
        response = .awaitingHead
        return .reject(code)
    }
}
