"""What an operator runs against a deployed environment. Talks to AWS through boto3 only; of the emulator it may
import nothing but its endpoint, so every command works the same against a real account and the local AWS.
"""
