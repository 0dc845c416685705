# The stub chainrun starts the command through (see faststub_amd64.go).
# Its data follows the code: the descriptor it shares with the tracer
# (u32), the lengths of the filter with a listener and of the filter
# without one (u16 each), then the two filters' instructions.
.intel_syntax noprefix
.globl _start
_start:
    mov r12, rsp
    lea rbx, [rip + data]
    # prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    mov edi, 38
    mov esi, 1
    xor edx, edx
    xor r10d, r10d
    xor r8d, r8d
    mov eax, 157
    syscall
    test rax, rax
    jnz fail_filter
    sub rsp, 16
    # seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER|WAIT_KILLABLE_RECV,
    # &listener filter) returns the listener's descriptor
    movzx eax, word ptr [rbx + 4]
    mov word ptr [rsp], ax
    lea rax, [rbx + 8]
    mov qword ptr [rsp + 8], rax
    mov edi, 1
    mov esi, 0x28
    mov rdx, rsp
    mov eax, 317
    syscall
    test rax, rax
    jns have_filter
    # no listener here (an old kernel, or a filter that has one already):
    # the filter that sends every trap to the tracer
    movzx eax, word ptr [rbx + 4]
    lea rax, [rbx + rax*8 + 8]
    mov qword ptr [rsp + 8], rax
    movzx eax, word ptr [rbx + 6]
    mov word ptr [rsp], ax
    mov edi, 1
    xor esi, esi
    mov rdx, rsp
    mov eax, 317
    syscall
    test rax, rax
    jnz fail_filter
    mov eax, -1
have_filter:
    # write(sync, &listener, 4): the tracer takes the listener from here
    mov dword ptr [rsp], eax
    mov edi, dword ptr [rbx]
    mov rsi, rsp
    mov edx, 4
    mov eax, 1
    syscall
    cmp rax, 4
    jne fail_quiet
    # read(sync, buf, 1): the go-ahead, once the tracer has seized us
    mov edi, dword ptr [rbx]
    mov rsi, rsp
    mov edx, 1
    xor eax, eax
    syscall
    cmp rax, 1
    jne fail_quiet
    mov edi, dword ptr [rbx]
    mov eax, 3
    syscall
    # execve(argv[1], &argv[1], envp)
    mov rcx, qword ptr [r12]
    mov rdi, qword ptr [r12 + 16]
    lea rsi, [r12 + 24]
    lea rdx, [r12 + rcx*8 + 16]
    mov eax, 59
    syscall
    mov r13d, 126
    cmp rax, -2
    jne 1f
    mov r13d, 127
1:
    mov edi, 2
    lea rsi, [rip + msg_exec]
    mov edx, OFFSET msg_exec_len
    mov eax, 1
    syscall
    mov edi, r13d
    jmp do_exit
fail_filter:
    mov edi, 2
    lea rsi, [rip + msg_filter]
    mov edx, OFFSET msg_filter_len
    mov eax, 1
    syscall
fail_quiet:
    mov edi, 125
do_exit:
    mov eax, 231
    syscall
    hlt
msg_exec: .ascii "chainrun: cannot execute the command\n"
msg_exec_len = . - msg_exec
msg_filter: .ascii "chainrun: cannot install the seccomp filter\n"
msg_filter_len = . - msg_filter
.balign 8
data:
