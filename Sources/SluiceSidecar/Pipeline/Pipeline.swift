import NIOCore
import NIOHTTP1

/// The ordered stages every call passes through before the upstream call, built once.
///
/// `Pipeline.standard` (in `Pipeline+standard.swift`) is the list a newcomer reads to see
/// the request path. Later capabilities (admission, cache, budgets) are new stages in that
/// list: the request path is never forked.
public struct Pipeline: Sendable {
    public let stages: [any CallStage]
    /// Indices of the stages that wrap the call, outermost first.
    private let wrapping: [Int]
    /// The innermost step: the call's answer when no stage produced another.
    let terminal: any CallTerminal

    public init(stages: [any CallStage], terminal: any CallTerminal = UpstreamCall()) {
        self.stages = stages
        self.wrapping = stages.indices.filter { stages[$0].wrapsCall }
        self.terminal = terminal
    }

    /// The call's answer: the wrapping stages' around-hooks from `index` on (an index into
    /// the wrapping list), then the terminal step (the upstream call).
    public func invoke(_ call: Call, from index: Int = 0) -> any ResponseSource {
        guard index < wrapping.count else { return terminal.source(for: call) }
        return stages[wrapping[index]].around(call, next: CallNext(pipeline: self, index: index + 1))
    }

    /// Runs the stages' `enter` hooks in order from `index`. Calls `completion` on the
    /// call's event loop with the local reply that ended the run, or nil when every stage
    /// said `next` (the call goes upstream). A call that finished meanwhile (its client left
    /// while a stage was suspended) goes no further and `completion` is not called.
    func enter(_ call: Call, from index: Int = 0, eventLoop: any EventLoop, completion: @escaping (LocalReply?) -> Void) {
        var position = index
        while position < stages.count {
            call.enteredStages = position + 1
            let decision = stages[position].enter(call)
            if case .next = decision {
                position += 1
                continue
            }
            act(on: decision, at: position, call: call, eventLoop: eventLoop, completion: completion)
            return
        }
        completion(nil)
    }

    private func act(on decision: StageDecision, at position: Int, call: Call, eventLoop: any EventLoop, completion: @escaping (LocalReply?) -> Void) {
        switch decision {
        case .next:
            enter(call, from: position + 1, eventLoop: eventLoop, completion: completion)
        case .reply(let reply):
            completion(reply)
        case .suspend(let future):
            future.hop(to: eventLoop).assumeIsolated().whenComplete { result in
                guard !call.isFinished else { return }
                switch result {
                case .success(let decision):
                    self.act(on: decision, at: position, call: call, eventLoop: eventLoop, completion: completion)
                case .failure(let error):
                    completion(.error(.internalError, "stage \(self.stages[position].name) failed: \(error)", family: call.family))
                }
            }
        }
    }

    /// Lets every stage add response headers or trailers.
    func decorate(_ call: Call, headers: inout HTTPHeaders, trailers: Bool) {
        for stage in stages {
            stage.decorate(call, headers: &headers, trailers: trailers)
        }
    }

    /// Runs the `finish` hooks in pipeline order, so a stage sees what earlier stages
    /// settled (the access log comes after account and sees the cost) — for the stages
    /// that entered, and for observers (account, metrics, access log) that see every call.
    func finish(_ call: Call) {
        for (index, stage) in stages.enumerated() where index < call.enteredStages || stage.finishesEveryCall {
            stage.finish(call)
        }
    }
}
