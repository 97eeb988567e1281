// rendezvous.h: how the processes of a torchrun-style launch find each other, without MPI.
//
// What is here: env_int, a rank's number from the environment (RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_PORT), and broadcast_from_rank0, which hands a few bytes from rank 0 to
// every other rank over a plain TCP socket: train_gpt.cu sends NCCL's unique id this way
// before NCCL itself can talk. Rank 0 listens on MASTER_PORT + 1, since torchrun's own
// rendezvous store already listens on MASTER_PORT.
//
// What is not here: anything about GPUs, NCCL or the model; and no collective beyond this
// one broadcast (NCCL does the rest). A build with -DUSE_MPI uses MPI_Bcast instead.
//
// Conventions: every wait is bounded (a minute), so a rank that never comes is reported
// through fail() instead of waited for forever.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base.h"   // defines: fail

// the environment variable name as a non-negative integer, fallback where it is unset or empty
inline int env_int(const char* name, int fallback) {
    const char* v = getenv(name);
    if (!v || !*v) return fallback;
    char* end;
    long x = strtol(v, &end, 10);
    if (*end || x < 0 || x > INT32_MAX) fail("environment variable %s=%s is not a non-negative integer", name, v);
    return (int)x;
}

// rank 0's n bytes at data, copied into data on every other rank of world. Rank 0 accepts the
// other ranks as they connect to MASTER_ADDR:MASTER_PORT + 1 and sends each the bytes; a rank
// that connects before rank 0 listens retries, every 100 ms for a minute
inline void broadcast_from_rank0(void* data, size_t n, int rank, int world) {
    const char* addr = getenv("MASTER_ADDR");
    int port = env_int("MASTER_PORT", 29500) + 1;
    if (!addr) addr = "127.0.0.1";
    const int wait_s = 60;
    if (rank == 0) {
        int server = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
        sa.sin_port = htons(port);
        if (server < 0 || bind(server, (sockaddr*)&sa, sizeof sa) != 0 || listen(server, world) != 0)
            fail("rank 0 cannot listen on port %d (MASTER_PORT + 1): %s", port, strerror(errno));
        for (int r = 1; r < world; r++) {
            pollfd pfd{server, POLLIN, 0};
            if (poll(&pfd, 1, wait_s * 1000) != 1)
                fail("rank 0: only %d of the other %d ranks connected to port %d (MASTER_PORT + 1) within %d s", r - 1,
                     world - 1, port, wait_s);
            int client = accept(server, nullptr, nullptr);
            if (client < 0 || write(client, data, n) != (ssize_t)n)
                fail("rank 0: sending to a rank on port %d (MASTER_PORT + 1) failed: %s", port, strerror(errno));
            close(client);
        }
        close(server);
        return;
    }
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(addr, std::to_string(port).c_str(), &hints, &res) != 0 || !res)
        fail("cannot resolve MASTER_ADDR=%s", addr);
    for (int attempt = 0;; attempt++) {   // rank 0 may not be listening yet: retry for a minute
        int sock = socket(AF_INET, SOCK_STREAM, 0);
        if (sock >= 0 && connect(sock, res->ai_addr, res->ai_addrlen) == 0) {
            timeval tv{wait_s, 0};   // rank 0 sends at once; a silent peer is not rank 0
            setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            size_t got = 0;
            while (got < n) {
                ssize_t r = read(sock, (char*)data + got, n - got);
                if (r <= 0) fail("rank %d: reading from rank 0 at %s:%d (MASTER_ADDR, MASTER_PORT + 1) failed", rank, addr, port);
                got += r;
            }
            close(sock);
            break;
        }
        if (sock >= 0) close(sock);
        if (attempt >= wait_s * 10) {
            freeaddrinfo(res);
            fail("rank %d: cannot connect to rank 0 at %s:%d (MASTER_ADDR, MASTER_PORT + 1)", rank, addr, port);
        }
        usleep(100000);
    }
    freeaddrinfo(res);
}
