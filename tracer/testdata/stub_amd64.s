.intel_syntax noprefix
.globl _start
_start:
    mov r12, rsp
    lea rbx, [rip + data]
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
    movzx eax, word ptr [rbx + 4]
    mov word ptr [rsp], ax
    lea rax, [rbx + 8]
    mov qword ptr [rsp + 8], rax
    mov edi, 1
    xor esi, esi
    mov rdx, rsp
    mov eax, 317
    syscall
    test rax, rax
    jnz fail_filter
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
