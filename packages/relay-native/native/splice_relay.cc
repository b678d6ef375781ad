// The byte path of Gatehouse's native relay: established TCP tunnels moved kernel to kernel
// with splice(2) through pipes, on one relay thread with its own epoll.
//
// Why a thread of our own and not uv_poll on Node's loop: the caller hands fds whose file
// descriptions libuv had registered in its own epoll; a second epoll on a dup is independent
// of libuv's, so neither can steal the other's edge-triggered wakeups, and the byte path never
// waits behind JavaScript (a busy main thread would otherwise stall every tunnel). The JS
// thread only starts, counts and closes tunnels; end reports come back through one threadsafe
// function for all tunnels (see AddonData), carrying the tunnel's id.
//
// Ownership: start() dup()s both fds (close-on-exec); the addon owns and closes the dups when
// the tunnel ends or close() returns. The caller may destroy its Node sockets as soon as
// start() has returned: closing the original fds leaves the shared file descriptions open
// through the dups.

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

// 256 KiB: one pipe moves a full TCP window's worth per splice pair on loopback, and 64
// pipes pooled cost 16 MiB of kernel memory at most (pipe pages are allocated only when
// filled). Unprivileged processes may raise pipes up to /proc/sys/fs/pipe-max-size (1 MiB).
constexpr int kPipeSize = 256 * 1024;
constexpr size_t kMaxPooledPipes = 64;

struct Pipe {
  int readFd = -1;
  int writeFd = -1;
};

// What a report says: the tunnel ended (the first three), or a side's FIN was read (the last two;
// the tunnel relays on, the other direction included).
enum class EndReason { Completed, ClientClosed, DestClosed, ClientFin, DestFin };

struct Tunnel;

// Where an env's end reports go: its one threadsafe function, while the env lives. Never freed
// (one per env that started a tunnel): a tunnel may outlive its env.
struct EndChannel {
  napi_threadsafe_function reports = nullptr;
  bool open = true;  // guarded by Relay::mutex_; false once the env is being torn down
};

// One direction of a tunnel: bytes read from `from` go through `pipe` to `to`.
struct Direction {
  int from = -1;
  int to = -1;
  Pipe pipe;                  // held only while `inPipe` > 0
  size_t inPipe = 0;          // bytes spliced in and not yet out
  // `from` returned EOF (its peer's FIN arrived). Written by the relay thread, read by counts().
  std::atomic<bool> sourceEnded{false};
  bool finished = false;      // EOF passed on with shutdown(to, SHUT_WR)
  std::atomic<uint64_t> bytes{0};
};

struct Tunnel {
  uint64_t id = 0;
  int clientFd = -1;
  int destFd = -1;
  Direction clientToDest;
  Direction destToClient;
  EndChannel* endChannel = nullptr;
  bool ended = false;         // guarded by Relay::mutex_
  bool reportFollows = false; // guarded by Relay::mutex_: ended on its own, an end report is queued
};

struct EndReport {
  uint64_t id;
  EndReason reason;
  uint64_t clientToDest;
  uint64_t destToClient;
  std::string error;
  int errnum = 0;  // the failed leg's errno, when known
};

inline bool endsTunnel(EndReason reason) { return reason != EndReason::ClientFin && reason != EndReason::DestFin; }

// How a pump went: bytes moved or nothing to do, a socket failed, or no pipe could be had
// (EMFILE/ENFILE: retried shortly, the tunnel waits instead of failing).
enum class Pumped { Ok, Failed, Starved };

class Relay {
 public:
  static Relay& instance() {
    static Relay* relay = new Relay();  // never destroyed: its thread lives with the process
    return *relay;
  }

  std::string start(std::shared_ptr<Tunnel> tunnel) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!threadStarted_) {
      std::string error = startThread();
      if (!error.empty()) return error;
    }
    pending_.push_back({Command::Add, tunnel});
    wake();
    return "";
  }

  // Stops a tunnel and waits until the relay thread has closed its fds: counts are final and
  // the fds are gone when this returns. A tunnel that already ended is left as it is. True if
  // this call stopped it (no end report will come), false if it had ended on its own (its end
  // report is queued or delivered).
  bool close(const std::shared_ptr<Tunnel>& tunnel) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!tunnel->ended) {
      pending_.push_back({Command::Close, tunnel});
      wake();
      closed_.wait(lock, [&] { return tunnel->ended; });
    }
    return !tunnel->reportFollows;
  }

  // Called as the channel's env is torn down (a worker exits), before Node frees its threadsafe
  // function: the env's tunnels relay on until they end, and their reports are dropped.
  void closeChannel(EndChannel* channel) {
    std::lock_guard<std::mutex> lock(mutex_);
    channel->open = false;
  }

 private:
  enum class Command { Add, Close };
  struct Pending {
    Command command;
    std::shared_ptr<Tunnel> tunnel;
  };

  std::string startThread() {
    epollFd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epollFd_ < 0) return std::string("epoll_create1: ") + strerror(errno);
    wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd_ < 0) return std::string("eventfd: ") + strerror(errno);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = 0;  // tunnel ids start at 1
    epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &event);
    std::thread([this] { run(); }).detach();
    threadStarted_ = true;
    return "";
  }

  void wake() {
    uint64_t one = 1;
    ssize_t ignored = write(wakeFd_, &one, sizeof one);
    (void)ignored;
  }

  void run() {
    // A write to a peer that has gone may raise SIGPIPE in this thread: keep it blocked here
    // (Node ignores it process-wide too) and see EPIPE instead.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    std::vector<epoll_event> events(256);
    for (;;) {
      // Tunnels waiting for a pipe are retried every 50 ms and after every wake-up (a pipe or an
      // fd may have come back); edge-triggered readiness would not be signalled to them again.
      int count = epoll_wait(epollFd_, events.data(), static_cast<int>(events.size()), starved_.empty() ? -1 : 50);
      if (!starved_.empty()) retryStarved();
      if (count < 0) continue;  // EINTR
      for (int index = 0; index < count; index++) {
        uint64_t key = events[index].data.u64;
        if (key == 0) {
          takeCommands();
          continue;
        }
        auto found = tunnels_.find(key >> 1);
        if (found == tunnels_.end()) continue;  // ended earlier in this batch
        std::shared_ptr<Tunnel> tunnel = found->second;
        bool isClient = (key & 1) == 0;
        if (events[index].events & EPOLLERR) {
          int fd = isClient ? tunnel->clientFd : tunnel->destFd;
          int error = 0;
          socklen_t length = sizeof error;
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
          if (error == 0) error = ECONNRESET;
          end(tunnel, isClient ? EndReason::ClientClosed : EndReason::DestClosed, strerror(error), error);
          continue;
        }
        // Only the directions this event can move: bytes (or EOF) to read from this socket, and
        // room to write the bytes waiting in the pipe towards it. Pumping the other direction too
        // would cost a splice that can only say EAGAIN.
        Direction& from = isClient ? tunnel->clientToDest : tunnel->destToClient;
        Direction& to = isClient ? tunnel->destToClient : tunnel->clientToDest;
        bool readable = (events[index].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0;
        bool writable = (events[index].events & EPOLLOUT) != 0 && to.inPipe > 0;
        if (readable || writable) pumpTunnel(tunnel, readable ? &from : nullptr, writable ? &to : nullptr);
      }
    }
  }

  void takeCommands() {
    uint64_t drained;
    ssize_t ignored = read(wakeFd_, &drained, sizeof drained);
    (void)ignored;
    std::deque<Pending> commands;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      commands.swap(pending_);
    }
    for (Pending& pending : commands) {
      if (pending.command == Command::Add) add(pending.tunnel);
      else if (tunnels_.count(pending.tunnel->id) != 0) release(pending.tunnel, false);
    }
  }

  void add(const std::shared_ptr<Tunnel>& tunnel) {
    tunnels_[tunnel->id] = tunnel;
    activeTunnels_++;
    // Edge-triggered, both ways: every pump runs until EAGAIN, so an edge is never needed twice.
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = tunnel->id << 1;
    epoll_ctl(epollFd_, EPOLL_CTL_ADD, tunnel->clientFd, &event);
    event.data.u64 = (tunnel->id << 1) | 1;
    epoll_ctl(epollFd_, EPOLL_CTL_ADD, tunnel->destFd, &event);
    pumpTunnel(tunnel);  // bytes may already be waiting
  }

  void pumpTunnel(const std::shared_ptr<Tunnel>& tunnel) {
    pumpTunnel(tunnel, &tunnel->clientToDest, &tunnel->destToClient);
  }

  // Pumps the given directions (either may be null), then ends the tunnel if both finished.
  void pumpTunnel(const std::shared_ptr<Tunnel>& tunnel, Direction* first, Direction* second) {
    bool starved = false;
    for (Direction* direction : {first, second}) {
      if (direction == nullptr) continue;
      int failedFd = -1;
      int errnum = 0;
      bool sourceEnded = direction->sourceEnded.load(std::memory_order_relaxed);
      Pumped pumped = pump(*direction, failedFd, errnum);
      if (pumped == Pumped::Failed) {
        end(tunnel, failedFd == tunnel->clientFd ? EndReason::ClientClosed : EndReason::DestClosed, strerror(errnum),
            errnum);
        return;
      }
      if (pumped == Pumped::Starved) starved = true;
      if (!sourceEnded && direction->sourceEnded.load(std::memory_order_relaxed)) {
        post(tunnel, new EndReport{tunnel->id,
                                   direction == &tunnel->clientToDest ? EndReason::ClientFin : EndReason::DestFin, 0,
                                   0, "", 0});
      }
    }
    if (starved) starved_.insert(tunnel->id);
    if (tunnel->clientToDest.finished && tunnel->destToClient.finished) end(tunnel, EndReason::Completed, "", 0);
  }

  void retryStarved() {
    std::unordered_set<uint64_t> waiting;
    waiting.swap(starved_);
    for (uint64_t id : waiting) {
      auto found = tunnels_.find(id);
      if (found == tunnels_.end()) continue;
      std::shared_ptr<Tunnel> tunnel = found->second;
      pumpTunnel(tunnel);
    }
  }

  // Moves what can move without blocking: reads only while the pipe has room, so a stalled
  // writer stops the reads of its direction (the pipe is the only buffer). False on an error
  // of either socket, with `failedFd` and `errnum` set; Starved when no pipe could be had.
  Pumped pump(Direction& direction, int& failedFd, int& errnum) {
    if (direction.finished) return Pumped::Ok;
    for (;;) {
      bool progressed = false;
      if (!direction.sourceEnded.load(std::memory_order_relaxed) && direction.inPipe < static_cast<size_t>(kPipeSize)) {
        if (direction.pipe.readFd < 0 && !takePipe(direction.pipe, errnum)) {
          if (errnum == EMFILE || errnum == ENFILE || errnum == ENOMEM) return Pumped::Starved;
          failedFd = direction.from;
          return Pumped::Failed;
        }
        ssize_t moved = splice(direction.from, nullptr, direction.pipe.writeFd, nullptr,
                               kPipeSize - direction.inPipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (moved > 0) {
          direction.inPipe += static_cast<size_t>(moved);
          progressed = true;
        } else if (moved == 0) {
          direction.sourceEnded.store(true, std::memory_order_relaxed);
          progressed = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          errnum = errno;
          failedFd = direction.from;
          return Pumped::Failed;
        }
      }
      if (direction.inPipe > 0) {
        ssize_t moved = splice(direction.pipe.readFd, nullptr, direction.to, nullptr, direction.inPipe,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (moved > 0) {
          direction.inPipe -= static_cast<size_t>(moved);
          direction.bytes.fetch_add(static_cast<uint64_t>(moved), std::memory_order_relaxed);
          progressed = true;
        } else if (moved < 0 && errno != EAGAIN && errno != EINTR) {
          errnum = errno;
          failedFd = direction.to;
          return Pumped::Failed;
        }
      }
      // An idle direction holds no pipe.
      if (direction.inPipe == 0 && direction.pipe.readFd >= 0) givePipe(direction.pipe);
      if (direction.sourceEnded.load(std::memory_order_relaxed) && direction.inPipe == 0) {
        shutdown(direction.to, SHUT_WR);
        direction.finished = true;
        return Pumped::Ok;
      }
      if (!progressed) return Pumped::Ok;
    }
  }

  bool takePipe(Pipe& pipe, int& errnum) {
    if (!pool_.empty()) {
      pipe = pool_.back();
      pool_.pop_back();
      return true;
    }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
      errnum = errno;
      return false;
    }
    fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);  // best effort: the default 64 KiB still works
    pipe.readFd = fds[0];
    pipe.writeFd = fds[1];
    return true;
  }

  void givePipe(Pipe& pipe) {
    if (pool_.size() < kMaxPooledPipes) pool_.push_back(pipe);
    else closePipe(pipe);
    pipe = Pipe{};
  }

  static void closePipe(Pipe& pipe) {
    ::close(pipe.readFd);
    ::close(pipe.writeFd);
    pipe = Pipe{};
  }

  void end(const std::shared_ptr<Tunnel>& tunnel, EndReason reason, const std::string& error, int errnum) {
    EndReport* report = new EndReport{tunnel->id, reason, tunnel->clientToDest.bytes.load(),
                                      tunnel->destToClient.bytes.load(), error, errnum};
    release(tunnel, true);
    post(tunnel, report);
  }

  // Under the lock, so that closeChannel() cannot run between the check and the call. The
  // queue is unbounded: the call never blocks.
  void post(const std::shared_ptr<Tunnel>& tunnel, EndReport* report) {
    std::lock_guard<std::mutex> lock(mutex_);
    EndChannel* channel = tunnel->endChannel;
    if (!channel->open || napi_call_threadsafe_function(channel->reports, report, napi_tsfn_blocking) != napi_ok) {
      delete report;
    }
  }

  // Unregisters and closes a tunnel's fds and pipes. A pipe still holding bytes is closed, not
  // pooled (its bytes are dropped with the tunnel). When the last tunnel goes, so do the pooled
  // pipes: an idle relay holds no pipe at all.
  void release(const std::shared_ptr<Tunnel>& tunnel, bool reportFollows) {
    epoll_ctl(epollFd_, EPOLL_CTL_DEL, tunnel->clientFd, nullptr);
    epoll_ctl(epollFd_, EPOLL_CTL_DEL, tunnel->destFd, nullptr);
    ::close(tunnel->clientFd);
    ::close(tunnel->destFd);
    for (Direction* direction : {&tunnel->clientToDest, &tunnel->destToClient}) {
      if (direction->pipe.readFd >= 0) closePipe(direction->pipe);
    }
    tunnels_.erase(tunnel->id);
    starved_.erase(tunnel->id);
    if (--activeTunnels_ == 0) {
      for (Pipe& pipe : pool_) closePipe(pipe);
      pool_.clear();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    tunnel->ended = true;
    tunnel->reportFollows = reportFollows;
    closed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable closed_;
  std::deque<Pending> pending_;
  bool threadStarted_ = false;
  int epollFd_ = -1;
  int wakeFd_ = -1;
  // Relay thread only:
  std::unordered_map<uint64_t, std::shared_ptr<Tunnel>> tunnels_;
  std::vector<Pipe> pool_;
  std::unordered_set<uint64_t> starved_;  // tunnels with a direction waiting for a pipe
  size_t activeTunnels_ = 0;
};

}  // namespace

namespace {

// Per env (the main thread, or a worker that loads the addon). End reports of all the env's
// tunnels go through ONE threadsafe function: a threadsafe function per tunnel (a uv_async_t,
// a queue, a mutex, a condition variable and a reference each) was most of an idle tunnel's
// native memory. It is created on the first start(), never released (so it lives as long as
// the env), and keeps the event loop alive only while the env has tunnels running.
struct AddonData {
  Napi::FunctionReference tunnelClass;
  Napi::FunctionReference endListener;  // until the threadsafe function takes it over
  EndChannel* endChannel = nullptr;     // from the first start()
  size_t running = 0;  // tunnels started and neither ended (report delivered) nor stopped

  void tunnelStarted(napi_env env) {
    if (running++ == 0) napi_ref_threadsafe_function(env, endChannel->reports);
  }
  void tunnelGone(napi_env env) {
    if (--running == 0) napi_unref_threadsafe_function(env, endChannel->reports);
  }
};

const char* const kReasonNames[] = {"completed", "client_closed", "dest_closed", "client_fin", "dest_fin"};

// On the JS thread: listener(id, reason, clientToDest, destToClient, error?, errno). A `*_fin`
// reason reports a FIN read, not an end. A listener that throws surfaces as an uncaught
// exception, as any callback would.
void DeliverEnd(napi_env env, napi_value listener, void* context, void* data) {
  std::unique_ptr<EndReport> report(static_cast<EndReport*>(data));
  if (env == nullptr) return;  // the env is being torn down: `context` may be gone
  if (endsTunnel(report->reason)) static_cast<AddonData*>(context)->tunnelGone(env);
  napi_value args[6];
  napi_create_double(env, static_cast<double>(report->id), &args[0]);
  napi_create_string_utf8(env, kReasonNames[static_cast<int>(report->reason)], NAPI_AUTO_LENGTH, &args[1]);
  napi_create_double(env, static_cast<double>(report->clientToDest), &args[2]);
  napi_create_double(env, static_cast<double>(report->destToClient), &args[3]);
  if (report->error.empty()) napi_get_undefined(env, &args[4]);
  else napi_create_string_utf8(env, report->error.c_str(), report->error.size(), &args[4]);
  napi_create_int32(env, report->errnum, &args[5]);
  napi_value receiver;
  napi_get_undefined(env, &receiver);
  napi_call_function(env, receiver, listener, 6, args, nullptr);
}

class NativeTunnel : public Napi::ObjectWrap<NativeTunnel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeTunnel",
                       {InstanceMethod<&NativeTunnel::Id>("id"), InstanceMethod<&NativeTunnel::Counts>("counts"),
                        InstanceMethod<&NativeTunnel::Close>("close")});
  }

  explicit NativeTunnel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTunnel>(info) {}

  std::shared_ptr<Tunnel> tunnel;

 private:
  Napi::Value Id(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(tunnel->id));
  }

  Napi::Value Counts(const Napi::CallbackInfo& info) {
    Napi::Object counts = Napi::Object::New(info.Env());
    counts.Set("clientToDest", static_cast<double>(tunnel->clientToDest.bytes.load(std::memory_order_relaxed)));
    counts.Set("destToClient", static_cast<double>(tunnel->destToClient.bytes.load(std::memory_order_relaxed)));
    counts.Set("clientEnded", tunnel->clientToDest.sourceEnded.load(std::memory_order_relaxed));
    counts.Set("destEnded", tunnel->destToClient.sourceEnded.load(std::memory_order_relaxed));
    return counts;
  }

  // True if this call stopped the tunnel: no end report will come for it.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool stopped = Relay::instance().close(tunnel);
    AddonData* addon = info.Env().GetInstanceData<AddonData>();
    if (stopped && !closed_) addon->tunnelGone(info.Env());
    if (stopped) closed_ = true;
    return Napi::Boolean::New(info.Env(), stopped);
  }

  bool closed_ = false;
};

int duplicate(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

// onEnd(listener): the one function every end report of this env goes to, before any start().
Napi::Value OnEnd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "onEnd(listener: function)");
  AddonData* addon = env.GetInstanceData<AddonData>();
  if (addon->endChannel != nullptr || !addon->endListener.IsEmpty()) {
    throw Napi::Error::New(env, "onEnd() was already called");
  }
  addon->endListener = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

// Creates the env's end channel on the first start(); its threadsafe function starts unref'd.
std::string ensureEndChannel(Napi::Env env, AddonData* addon) {
  if (addon->endChannel != nullptr) return "";
  if (addon->endListener.IsEmpty()) return "onEnd(listener) must be called before start()";
  napi_value name;
  napi_create_string_utf8(env, "gatehouse-splice-relay", NAPI_AUTO_LENGTH, &name);
  napi_threadsafe_function reports;
  napi_status status = napi_create_threadsafe_function(env, addon->endListener.Value(), nullptr, name, 0, 1, nullptr,
                                                       nullptr, addon, DeliverEnd, &reports);
  if (status != napi_ok) return "napi_create_threadsafe_function failed";
  napi_unref_threadsafe_function(env, reports);
  addon->endListener.Reset();
  addon->endChannel = new EndChannel{reports, true};
  // Cleanup hooks run last-registered first: this one before the threadsafe function's own,
  // which frees it.
  napi_add_env_cleanup_hook(
      env, [](void* channel) { Relay::instance().closeChannel(static_cast<EndChannel*>(channel)); },
      addon->endChannel);
  return "";
}

// start(clientFd, destFd) -> NativeTunnel; its end report goes to the onEnd() listener.
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "start(clientFd: number, destFd: number)");
  }
  AddonData* addon = env.GetInstanceData<AddonData>();
  std::string setupError = ensureEndChannel(env, addon);
  if (!setupError.empty()) throw Napi::Error::New(env, setupError);

  static std::atomic<uint64_t> nextId{1};
  auto tunnel = std::make_shared<Tunnel>();
  tunnel->id = nextId++;
  tunnel->clientFd = duplicate(info[0].As<Napi::Number>().Int32Value());
  tunnel->destFd = tunnel->clientFd < 0 ? -1 : duplicate(info[1].As<Napi::Number>().Int32Value());
  if (tunnel->clientFd < 0 || tunnel->destFd < 0) {
    int errnum = errno;
    if (tunnel->clientFd >= 0) ::close(tunnel->clientFd);
    Napi::Error error = Napi::Error::New(env, std::string("dup: ") + strerror(errnum));
    error.Set("errno", Napi::Number::New(env, errnum));
    throw error;
  }
  tunnel->clientToDest.from = tunnel->clientFd;
  tunnel->clientToDest.to = tunnel->destFd;
  tunnel->destToClient.from = tunnel->destFd;
  tunnel->destToClient.to = tunnel->clientFd;
  tunnel->endChannel = addon->endChannel;

  Napi::Object object = addon->tunnelClass.New({});
  NativeTunnel::Unwrap(object)->tunnel = tunnel;

  std::string error = Relay::instance().start(tunnel);
  if (!error.empty()) {
    ::close(tunnel->clientFd);
    ::close(tunnel->destFd);
    throw Napi::Error::New(env, error);
  }
  addon->tunnelStarted(env);
  return object;
}

// Raises glibc's heap trim threshold to 256 MiB so free() stops returning (and malloc
// re-faulting) memory on every burst of relayed Buffers. True if applied.
Napi::Value TuneAllocator(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  return Napi::Boolean::New(info.Env(), mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* addon = new AddonData();
  addon->tunnelClass = Napi::Persistent(NativeTunnel::Define(env));
  env.SetInstanceData(addon);
  exports.Set("onEnd", Napi::Function::New(env, OnEnd));
  exports.Set("start", Napi::Function::New(env, Start));
  exports.Set("tuneAllocator", Napi::Function::New(env, TuneAllocator));
  return exports;
}

}  // namespace

NODE_API_MODULE(gatehouse_splice_relay, Init)
