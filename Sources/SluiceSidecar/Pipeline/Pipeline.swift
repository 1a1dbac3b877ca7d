import NIOCore
import NIOHTTP1

/// Hears how a call's run through the stages' `enter` hooks ended.
protocol StageRunObserver: AnyObject {
    /// `reply` answered the call, or nil: every stage said `next`.
    func stagesDidFinish(_ call: Call, reply: LocalReply?)
}

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

    /// Runs the stages' `enter` hooks in order from `index`, then tells `observer` (on the
    /// call's event loop) the local reply that ended the run, or nil when every stage said
    /// `next` (the call goes upstream). A call that finished meanwhile (its client left
    /// while a stage was suspended) goes no further and the observer hears nothing.
    /// Nothing is allocated unless a stage suspends.
    func enter(_ call: Call, from index: Int = 0, eventLoop: any EventLoop, observer: some StageRunObserver) {
        var position = index
        while position < stages.count {
            call.enteredStages = position + 1
            let decision = stages[position].enter(call)
            switch decision {
            case .next:
                position += 1
            case .reply(let reply):
                observer.stagesDidFinish(call, reply: reply)
                return
            case .suspend(let future):
                wait(for: future, call: call, at: position, eventLoop: eventLoop, observer: observer)
                return
            }
        }
        observer.stagesDidFinish(call, reply: nil)
    }

    /// A suspended stage's decision, once it comes: acted on as if `enter` had returned it.
    private func wait(for future: EventLoopFuture<StageDecision>, call: Call, at position: Int, eventLoop: any EventLoop, observer: some StageRunObserver) {
        future.hop(to: eventLoop).assumeIsolated().whenComplete { [weak observer] result in
            guard let observer, !call.isFinished else { return }
            switch result {
            case .success(.next):
                self.enter(call, from: position + 1, eventLoop: eventLoop, observer: observer)
            case .success(.reply(let reply)):
                observer.stagesDidFinish(call, reply: reply)
            case .success(.suspend(let again)):
                self.wait(for: again, call: call, at: position, eventLoop: eventLoop, observer: observer)
            case .failure(let error):
                observer.stagesDidFinish(call, reply: .error(.internalError, "stage \(self.stages[position].name) failed: \(error)", family: call.family))
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
